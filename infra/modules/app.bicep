// Everything inside the resource group: monitoring, storage (RBAC only, no shared keys),
// a user-assigned identity with the data roles the app needs, Key Vault for secrets,
// optional Azure AI Language, the Flex Consumption plan and the function app.
param environmentName string
param location string
param tags object
param principalId string
@secure()
param authSigningKey string
@secure()
param openWeatherApiKey string
param weatherProvider string
param emailProvider string
param smtpHost string
param smtpPort string
param smtpUsername string
param smtpStartTls string
@secure()
param smtpPassword string
param acsEndpoint string
param emailSender string
param adminEmails string
param useAzureLanguage bool
param maximumInstanceCount int

var token = toLower(uniqueString(subscription().id, environmentName, location))
var deploymentContainer = 'app-package-${token}'

// Built-in role definitions (ids are the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  cognitiveServicesUser: 'a97b65f3-24c7-4388-baec-2e87135dc908'
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true // telemetry is sent with the managed identity
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

var storageRoles = [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(storage.id, identity.id, role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource userStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: if (!empty(principalId)) {
  name: guid(storage.id, principalId, role)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: principalId
    principalType: 'User'
  }
}]

resource metricsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }
}

resource signingKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-signing-key'
  properties: { value: authSigningKey }
}

resource openWeatherSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(openWeatherApiKey)) {
  parent: vault
  name: 'openweather-api-key'
  properties: { value: openWeatherApiKey }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(smtpPassword)) {
  parent: vault
  name: 'smtp-password'
  properties: { value: smtpPassword }
}

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource language 'Microsoft.CognitiveServices/accounts@2024-10-01' = if (useAzureLanguage) {
  name: 'lang-${token}'
  location: location
  tags: tags
  kind: 'TextAnalytics'
  sku: { name: 'S' }
  properties: {
    customSubDomainName: 'lang-${token}'
    disableLocalAuth: true // managed identity only: TEXT_ANALYTICS_KEY stays empty
    publicNetworkAccess: 'Enabled'
  }
}

resource languageRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useAzureLanguage) {
  name: guid(resourceGroup().id, 'lang', identity.id, roles.cognitiveServicesUser)
  scope: language
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

var secretRef = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName='

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        // Storage through the managed identity (no connection string, no key).
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId } // DefaultAzureCredential
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        // Secrets: Key Vault references resolved by the platform with the identity.
        { name: 'AUTH_SIGNING_KEY', value: '${secretRef}${signingKeySecret.name})' }
        { name: 'OPENWEATHER_API_KEY', value: empty(openWeatherApiKey) ? '' : '${secretRef}openweather-api-key)' }
        { name: 'SMTP_PASSWORD', value: empty(smtpPassword) ? '' : '${secretRef}smtp-password)' }
        // The contract's settings (API.md), production values.
        { name: 'WEATHER_PROVIDER', value: weatherProvider }
        { name: 'OPEN_METEO_BASE_URL', value: 'https://api.open-meteo.com/v1' }
        { name: 'OPEN_METEO_GEOCODING_URL', value: 'https://geocoding-api.open-meteo.com/v1' }
        { name: 'OPENWEATHER_BASE_URL', value: 'https://api.openweathermap.org' }
        { name: 'WEATHER_CACHE_TTL_SECONDS', value: '600' }
        { name: 'WEATHER_RATE_LIMIT_PER_MINUTE', value: '60' }
        { name: 'WEATHER_REFRESH_SCHEDULE', value: '0 */10 * * * *' }
        { name: 'EMAIL_PROVIDER', value: emailProvider }
        { name: 'SMTP_HOST', value: smtpHost }
        { name: 'SMTP_PORT', value: smtpPort }
        { name: 'SMTP_USERNAME', value: smtpUsername }
        { name: 'SMTP_STARTTLS', value: smtpStartTls }
        { name: 'EMAIL_SENDER', value: emailSender }
        { name: 'ACS_ENDPOINT', value: acsEndpoint }
        { name: 'SENTIMENT_PROVIDER', value: useAzureLanguage ? 'azure' : 'local' }
        { name: 'TEXT_ANALYTICS_ENDPOINT', value: useAzureLanguage ? language.properties.endpoint : '' }
        { name: 'WEBPUBSUB_HUB', value: 'weather' }
        { name: 'AUTH_TOKEN_TTL_MINUTES', value: '60' }
        { name: 'ADMIN_EMAILS', value: adminEmails }
        { name: 'OTP_TTL_SECONDS', value: '600' }
        { name: 'OTP_MAX_ATTEMPTS', value: '5' }
        { name: 'JOB_MAX_ATTEMPTS', value: '3' }
        { name: 'JOB_RETRY_BASE_SECONDS', value: '30' }
        { name: 'JOB_TIMEOUT_SECONDS', value: '120' }
        { name: 'JOBS_SWEEP_SCHEDULE', value: '0 * * * * *' }
        { name: 'PLAN_BASIC_CITY_LIMIT', value: '3' }
        { name: 'PLAN_PREMIUM_CITY_LIMIT', value: '15' }
      ]
    }
  }
  dependsOn: [appStorageRoles, vaultRole, metricsRole, packageContainer]
}

output functionAppName string = functionApp.name
output functionAppUri string = 'https://${functionApp.properties.defaultHostName}'
output storageAccountName string = storage.name
output keyVaultName string = vault.name
output appInsightsConnectionString string = insights.properties.ConnectionString
