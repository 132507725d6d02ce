// Azure Web PubSub for the real-time updates (POST /api/realtime/negotiate hands clients a
// client URL; the app publishes to the hub). Access keys are disabled
// (disableLocalAuth: true): the app signs client tokens and calls the REST API with its
// user-assigned identity, which holds "Web PubSub Service Owner" on this resource only.
// That built-in role (id 12cf5a90-567b-43ae-8102-96cf46c7d9b4, "Full access to Azure Web
// PubSub Service REST APIs", including generating client access tokens) is the one the
// Web PubSub documentation names for a server that publishes and negotiates with Entra ID:
// learn.microsoft.com/azure/azure-web-pubsub/howto-authorize-from-managed-identity and
// learn.microsoft.com/azure/role-based-access-control/built-in-roles/web-and-mobile.
metadata description = 'Web PubSub (keys disabled) with the app hub, and the app identity as Web PubSub Service Owner.'

@minLength(3)
@maxLength(63)
@description('Name of the Web PubSub resource (globally unique: https://<name>.webpubsub.azure.com).')
param name string

@description('Azure region of the resource.')
param location string

@description('Tags applied to the resource.')
param tags object

@description('Hub the app publishes to and clients join (WEBPUBSUB_HUB).')
param hubName string = 'weather'

@allowed([
  'Free_F1'
  'Standard_S1'
  'Premium_P1'
])
@description('Pricing tier: Free_F1 (20 connections, 20,000 messages a day, no SLA: dev), Standard_S1 (1,000 connections a unit, SLA), Premium_P1 (adds zone redundancy and autoscale).')
param skuName string = 'Free_F1'

@minValue(1)
@maxValue(100)
@description('Units (Free_F1 accepts only 1).')
param capacity int = 1

@description('Principal (object) id of the function app identity, granted Web PubSub Service Owner.')
param appPrincipalId string

// Web PubSub Service Owner: negotiate (client access tokens) and publish with an Entra ID token.
var webPubSubServiceOwnerRoleId = '12cf5a90-567b-43ae-8102-96cf46c7d9b4'

var tierBySku = {
  Free_F1: 'Free'
  Standard_S1: 'Standard'
  Premium_P1: 'Premium'
}

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: tierBySku[skuName]
    capacity: skuName == 'Free_F1' ? 1 : capacity
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

// The hub needs no event handler: clients only receive (the app publishes), so no upstream
// webhook is registered and anonymous connections are refused (a client needs the token
// that negotiate signs).
resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
  }
}

resource appWebPubSubOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(webPubSub.id, appPrincipalId, webPubSubServiceOwnerRoleId)
  scope: webPubSub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', webPubSubServiceOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Web PubSub Service Owner: negotiate and publish with the app identity'
  }
}

@description('Resource id of the Web PubSub resource.')
output resourceId string = webPubSub.id

@description('Name of the Web PubSub resource.')
output name string = webPubSub.name

@description('Endpoint of the service (WEBPUBSUB_ENDPOINT), https://<name>.webpubsub.azure.com')
output endpoint string = 'https://${webPubSub.properties.hostName}'

@description('Name of the hub (WEBPUBSUB_HUB).')
output hubName string = hub.name
