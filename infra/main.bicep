// Weather & Jobs on Azure Functions (Flex Consumption), provisioned by `azd up`
// (docs/deployment.md). Subscription scope: creates the resource group rg-<environment>, then one
// module per concern in it. No secret is written here or in main.parameters.json: secrets
// arrive as secure parameters (from the azd environment) and end up in Key Vault only; the
// app reads them through Key Vault references resolved with its user-assigned identity.
targetScope = 'subscription'

metadata description = 'Weather & Jobs function app: Flex Consumption, identity-only storage, Key Vault, App Insights, Web PubSub, ACS e-mail.'

// ---------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Name of the azd environment (AZURE_ENV_NAME): names the resource group, seeds the resource token and is the azd-env-name tag.')
param environmentName string

@allowed([
  'dev'
  'prod'
])
@description('Kind of environment (AZURE_ENV_TYPE). Sets the defaults of the cost and resilience knobs below: dev is the cheapest (scale to zero, LRS, Free Web PubSub, 30-day logs, no alerts); prod has 2 always-ready HTTP instances, ZRS storage, Standard Web PubSub, 90-day logs, purge protection and alerts. Zone redundancy of the plan is a choice of its own (zoneRedundant), off by default: it bills 20 always-ready instances. Each knob can still be set on its own. docs/deployment.md "Environments".')
param environmentType string = 'dev'

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

@secure()
@description('Client secrets of the social sign-in providers, {"<name>": "<secret>"} (azd env OAUTH_CLIENT_SECRETS, JSON). Each becomes the Key Vault secret oauth-<name>-client-secret. A provider of oauthProviders missing here still gets its Key Vault reference: set the secret out of band (docs/deployment.md).')
param oauthClientSecrets object = {}

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
  'acs'
  'smtp'
])
@description('E-mail delivery (EMAIL_PROVIDER): Azure Communication Services with the app identity (default: created here with an Azure-managed domain, so that codes are delivered from the first deployment), or an SMTP relay (then smtpHost is required: the deployment fails without it). The file outbox is local-only (the deployed package is read-only).')
param emailProvider string = 'acs'

@description('From address of the verification e-mails (EMAIL_SENDER). Empty with ACS created here: DoNotReply@<managed domain>. With SMTP or an existing ACS resource it is required (with ACS, a sender of a domain connected to that resource).')
param emailSender string = ''

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

@description('Resource id of an existing Azure Communication Services resource to send through instead of the one created here (e.g. one with a custom, DNS-verified domain). Empty: ACS, an Email Communication Service and an Azure-managed domain are created. When set, the app identity is granted Communication and Email Service Owner on it, and acsEndpoint and emailSender are required.')
param acsResourceId string = ''

@description('Endpoint of that existing ACS resource, https://<name>.<geo>.communication.azure.com (ACS_ENDPOINT); ignored when ACS is created here.')
param acsEndpoint string = ''

@description('Data location of the ACS resources created here (where ACS stores data at rest).')
param acsDataLocation string = 'Europe'

@description('Web PubSub hub the app publishes to (WEBPUBSUB_HUB).')
param webPubSubHub string = 'weather'

@description('Social sign-in providers (OAUTH_PROVIDERS), a JSON list of {"name", "display_name", "issuer", "client_id"} (azd env OAUTH_PROVIDERS). Each provider\'s client secret is the app setting OAUTH_<NAME>_CLIENT_SECRET, a Key Vault reference. Empty: no social sign-in.')
param oauthProviders array = []

@description('The abuse limits of the API (RATE_LIMITS_ENABLED); false only for load tests.')
param rateLimitsEnabled bool = true

@description('Origins allowed to call the API from a browser (CORS), e.g. ["https://app.example.com"] (azd env ALLOWED_ORIGINS, JSON). Empty: none.')
param allowedOrigins array = []

@description('E-mail addresses the alerts notify (azd env ALERT_EMAILS, JSON list); alerts exist when enableAlerts is true.')
param alertEmails array = []

@description('Comma-separated e-mails of the administrators (ADMIN_EMAILS).')
param adminEmails string = ''

@description('NCRONTAB schedule of the enqueue_due_jobs timer (JOBS_SWEEP_SCHEDULE): moves far-future jobs into the queue and scores bids whose nudge was lost.')
param jobsSweepSchedule string = '0 * * * * *'

@minValue(1)
@maxValue(270)
@description('Time limit of one job run in seconds (JOB_TIMEOUT_SECONDS). At most 270: the run plus its bookkeeping must end inside host.json functionTimeout (5 minutes).')
param jobTimeoutSeconds int = 120

// Responsible AI: the first Azure AI Language (or other Azure AI services) resource created
// in a subscription may require the subscription owner to accept Microsoft's Responsible AI
// terms once (portal: create one Language resource by hand and tick the notice). Until that
// is done, creating the account fails with an error naming the terms; nothing else here
// needs it. That is why Language is off by default. docs/deployment.md "Azure AI Language and the Responsible AI terms".
@description('Create Azure AI Language and score bid comments with it (SENTIMENT_PROVIDER=azure, TEXT_ANALYTICS_ENDPOINT); false keeps the offline model (local). The subscription must have accepted the Responsible AI terms for Azure AI services (see the comment above).')
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

// The defaults below depend on environmentType. A knob whose azd environment value is unset
// is left out by azd (main.parameters.json maps it to ${NAME} with no default), so the
// template default for the environment type applies.

@minValue(40)
@maxValue(1000)
@description('Most Flex Consumption instances the app scales out to: Flex Consumption accepts 40 to 1000. A cost ceiling; also bounds parallel load on storage and the provider. Default: dev 40, prod 100.')
param maximumInstanceCount int = environmentType == 'prod' ? 100 : 40

@allowed([
  512
  2048
  4096
])
@description('Memory per instance in MB.')
param instanceMemoryMB int = 2048

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP functions (the scale group http; the queue and timer functions get none and scale from zero): 0 scales to zero (cold starts), each instance is billed while idle. Default: dev 0, prod 2.')
param alwaysReadyHttpInstances int = environmentType == 'prod' ? 2 : 0

// Cost of zone redundancy on Flex Consumption: the platform then keeps at least two
// always-ready instances for every scale group, whatever alwaysReady says, billed as always
// ready (learn.microsoft.com/azure/reliability/reliability-functions, Flex Consumption,
// "Availability zone support"). Scale groups (per-function scaling): all HTTP functions
// are one group (http); every queue and timer function is a group of its own
// (function:<name>). This app has 1 + 4 queue + 5 timer = 10 groups, so a zone-redundant
// plan bills at least 16 always-ready instances of instanceMemoryMB around the clock,
// against 2 (the http group) without it. tests/unit/test_flex_always_ready.py recounts the
// groups from the app and checks the figure below.
@description('Zone redundancy of the Flex Consumption plan (and ZRS storage). Costly: the platform then keeps at least 2 always-ready instances per scale group (http + each of the 9 queue and timer functions = 10 groups), so at least 20 always-ready instances are billed continuously instead of alwaysReadyHttpInstances (2 in prod). Only in regions with availability zones; fixed when the plan is created. Default: false in dev and prod (ZONE_REDUNDANT=true to choose it).')
param zoneRedundant bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the storage account (users, jobs, history, queues, archives). Default: ZRS in prod or when zoneRedundant (the data survives a zone outage; a few percent more per GB), else LRS. A prod region without availability zones needs STORAGE_SKU=Standard_LRS (or GRS).')
param storageSkuName string = environmentType == 'prod' || zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'

@allowed([
  'Free_F1'
  'Standard_S1'
  'Premium_P1'
])
@description('Web PubSub tier. Default: dev Free_F1 (20 connections, no SLA), prod Standard_S1 (Premium_P1 adds zone redundancy).')
param webPubSubSkuName string = environmentType == 'prod' ? 'Standard_S1' : 'Free_F1'

@description('Log search alerts on poison-queue moves and the HTTP 5xx rate, with an action group mailing alertEmails. Default: dev false, prod true.')
param enableAlerts bool = environmentType == 'prod'

@minValue(0)
@description('Delete archived raw provider answers (weather-raw) after this many days; 0 keeps them.')
param rawArchiveRetentionDays int = 0

@minValue(30)
@maxValue(730)
@description('Retention of Log Analytics (and so Application Insights) data in days. Default: dev 30 (included in the price), prod 90.')
param logRetentionInDays int = environmentType == 'prod' ? 90 : 30

@minValue(-1)
@description('Daily ingestion cap of Log Analytics in GB; -1: no cap. Default: dev 1 (a noisy failure cannot run up a bill), prod -1 (never lose production telemetry).')
param logDailyQuotaGb int = environmentType == 'prod' ? -1 : 1

@minValue(7)
@maxValue(90)
@description('Soft-delete retention of Key Vault in days (fixed once the vault exists). Default: dev 7, prod 90.')
param keyVaultSoftDeleteRetentionInDays int = environmentType == 'prod' ? 90 : 7

@description('Key Vault purge protection: irreversible, and the vault name then stays taken for the retention period after `azd down`. Default: dev false, prod true.')
param keyVaultEnablePurgeProtection bool = environmentType == 'prod'

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
  webPubSub: 'wps-${resourceToken}'
  communication: 'acs-${resourceToken}'
  emailService: 'ecs-${resourceToken}'
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
    oauthProviderNames: map(oauthProviders, provider => provider.name)
    oauthClientSecrets: oauthClientSecrets
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

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    name: names.webPubSub
    location: location
    tags: tags
    hubName: webPubSubHub
    skuName: webPubSubSkuName
    appPrincipalId: identity.outputs.principalId
  }
}

// E-mail. Default: ACS created here (Azure-managed domain). An existing ACS resource
// (acsResourceId) replaces it; SMTP needs a host.
var createsAcs = emailProvider == 'acs' && empty(acsResourceId)

module communication 'modules/communication.bicep' = if (createsAcs) {
  name: 'communication'
  scope: rg
  params: {
    name: names.communication
    emailServiceName: names.emailService
    tags: tags
    dataLocation: acsDataLocation
    appPrincipalId: identity.outputs.principalId
  }
}

// The ACS resource may live in another resource group or subscription: its id says where.
// (The placeholder id keeps the scope expression valid when no ACS resource is given.)
var acsIdParts = split(empty(acsResourceId) ? '${rg.id}/providers/Microsoft.Communication/communicationServices/none' : acsResourceId, '/')

module acsRole 'modules/acs-role.bicep' = if (emailProvider == 'acs' && !empty(acsResourceId)) {
  name: 'acs-role'
  scope: resourceGroup(acsIdParts[2], acsIdParts[4])
  params: {
    communicationServiceName: last(acsIdParts)
    appPrincipalId: identity.outputs.principalId
  }
}

module alerts 'modules/alerts.bicep' = if (enableAlerts) {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: resourceToken
    location: location
    tags: tags
    applicationInsightsResourceId: monitoring.outputs.applicationInsightsResourceId
    alertEmails: alertEmails
  }
}

// A deployment that could not deliver a single e-mail is refused here, not discovered later
// as verification codes retrying into otp-email-poison. fail() (a Bicep system function
// since v0.33, compiled to the ARM fail() function, no experimental flag) raises a
// deployment error when evaluated; ARM evaluates only the chosen branch of a ternary, so it
// fires only when the condition is false. The azure.yaml preprovision hook checks the same
// earlier, with the azd environment names.
var smtpHostChecked = emailProvider != 'smtp' || !empty(smtpHost) ? smtpHost : fail('EMAIL_PROVIDER=smtp needs SMTP_HOST (azd env set SMTP_HOST <relay>), or use EMAIL_PROVIDER=acs: without a relay no verification e-mail can be sent.')
var emailSenderChecked = !empty(emailSender) ? emailSender : (createsAcs ? communication.outputs.sender : fail('EMAIL_SENDER is required with EMAIL_PROVIDER=smtp or an existing ACS resource (ACS_RESOURCE_ID).'))
var acsEndpointChecked = createsAcs ? communication.outputs.endpoint : (emailProvider != 'acs' || !empty(acsEndpoint) ? acsEndpoint : fail('ACS_ENDPOINT is required with an existing ACS resource (ACS_RESOURCE_ID).'))

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
  EMAIL_SENDER: emailSenderChecked
  SENTIMENT_PROVIDER: enableAzureLanguage ? 'azure' : 'local'
  WEBPUBSUB_ENDPOINT: webPubSub.outputs.endpoint
  WEBPUBSUB_HUB: webPubSub.outputs.hubName
  OAUTH_PROVIDERS: empty(oauthProviders) ? '' : string(oauthProviders)
  RATE_LIMITS_ENABLED: rateLimitsEnabled ? 'true' : 'false'
  AUTH_TOKEN_TTL_MINUTES: '60'
  ADMIN_EMAILS: adminEmails
  TRUSTED_PROXY_HOPS: '1' // App Service's front end appends the client to X-Forwarded-For
  OTP_TTL_SECONDS: '600'
  OTP_MAX_ATTEMPTS: '5'
  JOB_MAX_ATTEMPTS: '3'
  JOB_RETRY_BASE_SECONDS: '30'
  JOB_TIMEOUT_SECONDS: string(jobTimeoutSeconds)
  JOBS_SWEEP_SCHEDULE: jobsSweepSchedule
  PLAN_BASIC_CITY_LIMIT: '3'
  PLAN_PREMIUM_CITY_LIMIT: '15'
}

var smtpSettings = emailProvider == 'smtp' ? {
  SMTP_HOST: smtpHostChecked
  SMTP_PORT: string(smtpPort)
  SMTP_USERNAME: smtpUsername
  SMTP_STARTTLS: smtpStartTls ? 'true' : 'false'
} : {}

var acsSettings = emailProvider == 'acs' ? {
  ACS_ENDPOINT: acsEndpointChecked
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
    zoneRedundant: zoneRedundant
    allowedOrigins: allowedOrigins
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
    communication
    webPubSub
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
// Prefixed AZURE_ so that azd, which writes outputs into the environment, never feeds them
// back as the parameters of the same names (EMAIL_SENDER, ACS_ENDPOINT).
output AZURE_WEBPUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output AZURE_ACS_ENDPOINT string = emailProvider == 'acs' ? acsEndpointChecked : ''
output AZURE_EMAIL_SENDER string = emailSenderChecked
