// Weather & Jobs on Azure Functions (Flex Consumption), provisioned by `azd up`
// (docs/ops.md). Subscription scope: creates the resource group rg-<environment>, then one
// module per concern in it. No secret is written here or in main.parameters.json: secrets
// arrive as secure parameters (from the azd environment) and end up in Key Vault only; the
// app reads them through Key Vault references resolved with its user-assigned identity.
targetScope = 'subscription'

metadata description = 'Weather & Jobs function app: Flex Consumption, identity-only storage, Key Vault, App Insights.'

// ---------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment (AZURE_ENV_NAME): names the resource group, seeds the resource token and is the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person or CI principal running azd (AZURE_PRINCIPAL_ID). Gets Blob/Queue/Table data roles on the storage account for debugging and the runbook. Empty: no assignment.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principalId: User for a person, ServicePrincipal for a CI identity.')
param principalType string = 'User'

// ---------------------------------------------------------------------------------------
// Secrets (secure parameters; stored in Key Vault, never in an app setting in clear)
// ---------------------------------------------------------------------------------------

@secure()
@description('Token signing key (AUTH_SIGNING_KEY), 32 bytes or more. The azure.yaml preprovision hook generates it once per azd environment and keeps it there, so it survives re-provisioning; empty falls back to authSigningKeyFallback.')
param authSigningKey string = ''

@secure()
@description('Do not set. Fallback signing key used only when authSigningKey is empty: two newGuid() values (72 characters, 244 random bits). newGuid() is allowed only in a parameter default and changes on every deployment, so relying on it rotates the key (signs everyone out) on each provision.')
param authSigningKeyFallback string = '${newGuid()}${newGuid()}'

@secure()
@description('OpenWeatherMap API key (OPENWEATHER_API_KEY), needed only with weatherProvider openweather. Empty: no secret, no app setting.')
param openWeatherApiKey string = ''

@secure()
@description('SMTP password (SMTP_PASSWORD). Empty: no secret, no app setting (an SMTP relay without authentication).')
param smtpPassword string = ''

// ---------------------------------------------------------------------------------------
// Application settings (API.md "Settings")
// ---------------------------------------------------------------------------------------

@allowed([
  'open-meteo'
  'openweather'
  'simulated'
])
@description('Weather provider (WEATHER_PROVIDER). openweather needs openWeatherApiKey; simulated is the deterministic test mode.')
param weatherProvider string = 'open-meteo'

@minValue(1)
@description('Provider requests allowed per 60 s (WEATHER_RATE_LIMIT_PER_MINUTE), per instance.')
param weatherRateLimitPerMinute int = 60

@description('NCRONTAB schedule of the refresh_weather timer (WEATHER_REFRESH_SCHEDULE, six fields, UTC).')
param weatherRefreshSchedule string = '0 */10 * * * *'

@allowed([
  'smtp'
  'acs'
])
@description('E-mail delivery (EMAIL_PROVIDER): an SMTP relay, or Azure Communication Services with the app identity. The file outbox is local-only (the deployed package is read-only).')
param emailProvider string = 'smtp'

@description('From address of the verification e-mails (EMAIL_SENDER). With ACS it must be a sender of a domain connected to the ACS resource, e.g. DoNotReply@<domain>.')
param emailSender string = 'no-reply@example.com'

@description('SMTP relay host name (SMTP_HOST); required when emailProvider is smtp.')
param smtpHost string = ''

@minValue(1)
@maxValue(65535)
@description('SMTP port (SMTP_PORT): 587 for submission with STARTTLS.')
param smtpPort int = 587

@description('SMTP user name (SMTP_USERNAME); empty: no authentication.')
param smtpUsername string = ''

@description('Upgrade the SMTP connection with STARTTLS (SMTP_STARTTLS).')
param smtpStartTls bool = true

@description('Endpoint of an existing Azure Communication Services resource, https://<name>.<geo>.communication.azure.com (ACS_ENDPOINT); required when emailProvider is acs.')
param acsEndpoint string = ''

@description('Resource id of that ACS resource. When set, the app identity is granted Communication and Email Service Owner on it, so that it can send without a connection string.')
param acsResourceId string = ''

@description('Comma-separated e-mails of the administrators (ADMIN_EMAILS).')
param adminEmails string = ''

@description('NCRONTAB schedule of the enqueue_due_jobs timer (JOBS_SWEEP_SCHEDULE): moves far-future jobs into the queue and scores bids whose nudge was lost.')
param jobsSweepSchedule string = '0 * * * * *'

@minValue(1)
@maxValue(270)
@description('Time limit of one job run in seconds (JOB_TIMEOUT_SECONDS). At most 270: the run plus its bookkeeping must end inside host.json functionTimeout (5 minutes).')
param jobTimeoutSeconds int = 120

@description('Create Azure AI Language and score bid comments with it (SENTIMENT_PROVIDER=azure, TEXT_ANALYTICS_ENDPOINT); false keeps the offline model (local).')
param enableAzureLanguage bool = false

@allowed([
  'F0'
  'S'
])
@description('Pricing tier of Azure AI Language when enabled (F0: free, one per subscription).')
param languageSkuName string = 'S'

@description('App settings that replace the values computed here (name -> string), e.g. {"OTP_TTL_SECONDS": "300"}. Never put a secret here: use the secure parameters.')
param appSettingOverrides object = {}

// ---------------------------------------------------------------------------------------
// Scale, resilience and cost knobs
// ---------------------------------------------------------------------------------------

@minValue(1)
@maxValue(1000)
@description('Most Flex Consumption instances the app scales out to (cost ceiling; also bounds parallel load on storage and the provider).')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Memory per instance in MB.')
param instanceMemoryMB int = 2048

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP functions: 0 scales to zero (cold starts), each instance is billed while idle.')
param alwaysReadyHttpInstances int = 0

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the storage account (users, jobs, history, queues, archives).')
param storageSkuName string = 'Standard_LRS'

@minValue(0)
@description('Delete archived raw provider answers (weather-raw) after this many days; 0 keeps them.')
param rawArchiveRetentionDays int = 0

@minValue(30)
@maxValue(730)
@description('Retention of Log Analytics (and so Application Insights) data in days.')
param logRetentionInDays int = 30

@minValue(-1)
@description('Daily ingestion cap of Log Analytics in GB; -1: no cap.')
param logDailyQuotaGb int = -1

@minValue(7)
@maxValue(90)
@description('Soft-delete retention of Key Vault in days (fixed once the vault exists).')
param keyVaultSoftDeleteRetentionInDays int = 7

@description('Key Vault purge protection: recommended for production; irreversible, and the vault name then stays taken for the retention period after `azd down`.')
param keyVaultEnablePurgeProtection bool = false

// ---------------------------------------------------------------------------------------
// Names and tags
// ---------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'weather-jobs'
}
var names = {
  resourceGroup: 'rg-${environmentName}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  identity: 'id-api-${resourceToken}'
  storage: 'st${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  language: 'lang-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-api-${resourceToken}'
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
    dailyQuotaGb: logDailyQuotaGb
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: names.deploymentContainer
    skuName: storageSkuName
    rawArchiveRetentionDays: rawArchiveRetentionDays
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    enablePurgeProtection: keyVaultEnablePurgeProtection
    authSigningKey: empty(authSigningKey) ? authSigningKeyFallback : authSigningKey
    openWeatherApiKey: openWeatherApiKey
    hasOpenWeatherApiKey: !empty(openWeatherApiKey)
    smtpPassword: smtpPassword
    hasSmtpPassword: !empty(smtpPassword)
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module language 'modules/language.bicep' = if (enableAzureLanguage) {
  name: 'language'
  scope: rg
  params: {
    name: names.language
    location: location
    tags: tags
    skuName: languageSkuName
    appPrincipalId: identity.outputs.principalId
  }
}

// The ACS resource may live in another resource group or subscription: its id says where.
// (The placeholder id keeps the scope expression valid when no ACS resource is given.)
var acsIdParts = split(empty(acsResourceId) ? '${rg.id}/providers/Microsoft.Communication/communicationServices/none' : acsResourceId, '/')

module acsRole 'modules/acs-role.bicep' = if (!empty(acsResourceId)) {
  name: 'acs-role'
  scope: resourceGroup(acsIdParts[2], acsIdParts[4])
  params: {
    communicationServiceName: last(acsIdParts)
    appPrincipalId: identity.outputs.principalId
  }
}

// Every setting of local.settings.example.json that Azure needs, with production values;
// tests/unit/test_infra.py fails when one is missing. Secrets come from Key Vault
// references; optional features add their settings only when they are on.
var contractSettings = {
  WEATHER_PROVIDER: weatherProvider
  OPEN_METEO_BASE_URL: 'https://api.open-meteo.com/v1'
  OPEN_METEO_GEOCODING_URL: 'https://geocoding-api.open-meteo.com/v1'
  OPENWEATHER_BASE_URL: 'https://api.openweathermap.org'
  WEATHER_CACHE_TTL_SECONDS: '600'
  WEATHER_RATE_LIMIT_PER_MINUTE: string(weatherRateLimitPerMinute)
  WEATHER_REFRESH_SCHEDULE: weatherRefreshSchedule
  EMAIL_PROVIDER: emailProvider
  EMAIL_SENDER: emailSender
  SENTIMENT_PROVIDER: enableAzureLanguage ? 'azure' : 'local'
  WEBPUBSUB_HUB: 'weather'
  AUTH_TOKEN_TTL_MINUTES: '60'
  ADMIN_EMAILS: adminEmails
  OTP_TTL_SECONDS: '600'
  OTP_MAX_ATTEMPTS: '5'
  RATE_LIMITS_ENABLED: 'true'
  JOB_MAX_ATTEMPTS: '3'
  JOB_RETRY_BASE_SECONDS: '30'
  JOB_TIMEOUT_SECONDS: string(jobTimeoutSeconds)
  JOBS_SWEEP_SCHEDULE: jobsSweepSchedule
  PLAN_BASIC_CITY_LIMIT: '3'
  PLAN_PREMIUM_CITY_LIMIT: '15'
}

var smtpSettings = emailProvider == 'smtp' ? {
  SMTP_HOST: smtpHost
  SMTP_PORT: string(smtpPort)
  SMTP_USERNAME: smtpUsername
  SMTP_STARTTLS: smtpStartTls ? 'true' : 'false'
} : {}

var acsSettings = emailProvider == 'acs' ? {
  ACS_ENDPOINT: acsEndpoint
} : {}

var languageSettings = enableAzureLanguage ? {
  TEXT_ANALYTICS_ENDPOINT: language.outputs.endpoint
} : {}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    serviceName: 'api'
    identityResourceId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    appSettings: union(
      contractSettings,
      smtpSettings,
      acsSettings,
      languageSettings,
      keyVault.outputs.appSettingReferences,
      appSettingOverrides
    )
  }
  // The app must not start before its identity may read its package, queues and secrets.
  dependsOn: [
    rbac
    acsRole
  ]
}

// ---------------------------------------------------------------------------------------
// Outputs (azd writes them into the environment: `azd env get-values`)
// ---------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URI string = functionApp.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
