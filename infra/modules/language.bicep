// Azure AI Language (kind TextAnalytics) for the sentiment of bid comments
// (SENTIMENT_PROVIDER=azure). Keys are disabled: the app calls it with its managed identity
// (Cognitive Services User, rbac.bicep), so TEXT_ANALYTICS_KEY stays unset in Azure.
// Entra ID authentication needs the custom subdomain endpoint, hence customSubDomainName.
metadata description = 'Azure AI Language account with local (key) authentication disabled.'

@minLength(2)
@maxLength(64)
@description('Name of the account; also its custom subdomain (https://<name>.cognitiveservices.azure.com/), globally unique.')
param name string

@description('Azure region of the account (Language must be offered there).')
param location string

@description('Tags applied to the account.')
param tags object

@allowed([
  'F0'
  'S'
])
@description('Pricing tier: F0 (free, one per subscription, 5,000 text records a month) or S (pay per 1,000 text records).')
param skuName string = 'S'

@description('Principal (object) id of the function app identity, granted Cognitive Services User.')
param appPrincipalId string

// Cognitive Services User: call the data plane (analyze sentiment) with an Entra ID token.
var cognitiveServicesUserRoleId = 'a97b65f3-24c7-4388-baec-2e87135dc908'

resource language 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'TextAnalytics'
  sku: {
    name: skuName
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource appLanguageUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(language.id, appPrincipalId, cognitiveServicesUserRoleId)
  scope: language
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUserRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Cognitive Services User: sentiment analysis with the app identity'
  }
}

@description('Resource id of the account.')
output resourceId string = language.id

@description('Name of the account.')
output name string = language.name

@description('Endpoint of the account (TEXT_ANALYTICS_ENDPOINT).')
output endpoint string = language.properties.endpoint
