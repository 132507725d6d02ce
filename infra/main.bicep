// Weather & Jobs on Azure Functions (Flex Consumption), deployed with `azd up`.
// Subscription scope: creates the resource group, then everything in it (modules/app.bicep).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID); gets data roles on storage and Key Vault for local debugging. Empty: none.')
param principalId string = ''

@secure()
@description('Token signing key (>= 32 bytes). Set it once with `azd env set AUTH_SIGNING_KEY "$(openssl rand -base64 48)"` so that it stays the same across provisions. Empty: a random key per deployment, which rotates it (and signs every user out) on each provision.')
param authSigningKey string = ''

@secure()
@description('Do not set: the random fallback for authSigningKey (newGuid() is only allowed in a parameter default).')
param generatedSigningKey string = '${newGuid()}${newGuid()}'

@secure()
@description('OpenWeatherMap key (optional; only used with weatherProvider = openweather).')
param openWeatherApiKey string = ''

@allowed(['open-meteo', 'openweather', 'simulated'])
@description('Weather provider (API.md WEATHER_PROVIDER).')
param weatherProvider string = 'open-meteo'

@allowed(['smtp', 'acs'])
@description('E-mail delivery: SMTP relay or Azure Communication Services (managed identity).')
param emailProvider string = 'smtp'

@description('SMTP host, port, user and STARTTLS flag (emailProvider = smtp).')
param smtpHost string = ''
param smtpPort string = '587'
param smtpUsername string = ''
param smtpStartTls string = 'true'

@secure()
@description('SMTP password (stored in Key Vault).')
param smtpPassword string = ''

@description('ACS endpoint, https://<name>.communication.azure.com (emailProvider = acs).')
param acsEndpoint string = ''

@description('Sender address of the verification e-mails.')
param emailSender string = 'no-reply@example.com'

@description('Comma-separated administrator e-mails (API.md ADMIN_EMAILS).')
param adminEmails string = ''

@description('Create an Azure AI Language resource and score bid comments with it (else the offline model).')
param useAzureLanguage bool = false

@description('Upper bound of Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'modules/app.bicep' = {
  name: 'app'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    principalId: principalId
    authSigningKey: empty(authSigningKey) ? generatedSigningKey : authSigningKey
    openWeatherApiKey: openWeatherApiKey
    weatherProvider: weatherProvider
    emailProvider: emailProvider
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpStartTls: smtpStartTls
    smtpPassword: smtpPassword
    acsEndpoint: acsEndpoint
    emailSender: emailSender
    adminEmails: adminEmails
    useAzureLanguage: useAzureLanguage
    maximumInstanceCount: maximumInstanceCount
  }
}

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_FUNCTION_URI string = app.outputs.functionAppUri
output AZURE_STORAGE_ACCOUNT_NAME string = app.outputs.storageAccountName
output AZURE_KEY_VAULT_NAME string = app.outputs.keyVaultName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = app.outputs.appInsightsConnectionString
