// The Flex Consumption plan and the function app (Python 3.11, Linux).
//
// Flex Consumption takes the runtime, scale and deployment storage from functionAppConfig;
// the settings it retired (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
// WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENT*, SCM_DO_BUILD_DURING_DEPLOYMENT, ...) must not
// be set. Storage is reached with the user-assigned identity only: the deployment package
// (functionAppConfig.deployment) and the host and app connection (AzureWebJobsStorage__*).
metadata description = 'Flex Consumption plan + Python function app wired to storage, Key Vault and App Insights by identity.'

@description('Name of the function app (globally unique: <name>.azurewebsites.net).')
param name string

@description('Name of the Flex Consumption plan (one app per plan).')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app.')
param tags object

@description('azd service name of the app in azure.yaml; written as the azd-service-name tag azd deploys to.')
param serviceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Client id of that identity (AzureWebJobsStorage__clientId, AZURE_CLIENT_ID).')
param identityClientId string

@description('Name of the storage account (AzureWebJobsStorage__accountName).')
param storageAccountName string

@description('Blob endpoint of the storage account, with its trailing slash.')
param blobEndpoint string

@description('Queue endpoint of the storage account, with its trailing slash.')
param queueEndpoint string

@description('Table endpoint of the storage account, with its trailing slash.')
param tableEndpoint string

@description('Blob container of the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string.')
param applicationInsightsConnectionString string

@allowed([
  '3.11'
])
@description('Python version of the Functions runtime (the version the app is tested with).')
param pythonVersion string = '3.11'

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance in MB (2048 gives about one vCPU).')
param instanceMemoryMB int = 2048

// Flex Consumption accepts 40 to 1000 (the platform rejects a lower ceiling).
@minValue(40)
@maxValue(1000)
@description('Upper bound of instances the app scales out to (Flex Consumption accepts 40 to 1000): a cost ceiling and a bound on parallel load on storage and the weather provider.')
param maximumInstanceCount int = 40

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP functions (0: scale to zero, cold starts possible; each one is billed while idle).')
param alwaysReadyHttpInstances int = 0

@description('Spread the plan\'s instances over availability zones. Only in regions with zones, fixed when the plan is created; the platform then keeps at least two always-ready instances per scale group (http, and each queue or timer function on its own), billed as always ready: main.bicep states the count.')
param zoneRedundant bool = false

@description('Origins allowed to call the API from a browser (CORS), e.g. ["https://app.example.com"]; empty: no cross-origin browser calls (the API docs page the app serves itself is same-origin).')
param allowedOrigins array = []

@description('The app\'s own settings (name -> value), Key Vault references included. The platform wiring below is added to them and wins on a name clash.')
param appSettings object

// Identity-based storage for the Functions host and the app (shared/settings.py reads the
// same names), telemetry with Entra ID, and the client id DefaultAzureCredential needs to
// pick the user-assigned identity (Azure AI Language, ACS e-mail).
var platformSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AZURE_CLIENT_ID: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// 'http' is the scale group of all HTTP-triggered functions; the queue and timer functions
// (each its own group, function:<name>) get no always-ready instance: they scale from zero.
var alwaysReady = alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

resource functionAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(appSettings, platformSettings)
}

@description('Name of the function app.')
output name string = functionApp.name

@description('Resource id of the function app.')
output resourceId string = functionApp.id

@description('HTTPS base URI of the function app (the API is under /api).')
output uri string = 'https://${functionApp.properties.defaultHostName}'
