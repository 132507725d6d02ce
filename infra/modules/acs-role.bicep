// Lets the app identity send e-mail through an existing Azure Communication Services
// resource (EMAIL_PROVIDER=acs with ACS_ENDPOINT and no connection string). ACS is not
// created here: its e-mail domain needs DNS verification, done once by a person.
// Deployed at the scope of the resource group that holds the ACS resource.
metadata description = 'Communication and Email Service Owner for the app identity on an existing ACS resource.'

@description('Name of the existing Azure Communication Services resource.')
param communicationServiceName string

@description('Principal (object) id of the function app identity.')
param appPrincipalId string

// The built-in role the ACS e-mail documentation names for sending with Entra ID.
var communicationAndEmailServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350'

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServiceName
}

resource appEmailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationService.id, appPrincipalId, communicationAndEmailServiceOwnerRoleId)
  scope: communicationService
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationAndEmailServiceOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Communication and Email Service Owner: verification e-mails with the app identity'
  }
}
