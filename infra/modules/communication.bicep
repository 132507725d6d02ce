// Azure Communication Services e-mail for the one-time codes (EMAIL_PROVIDER=acs): an Email
// Communication Service with an Azure-managed domain (<guid>.azurecomm.net, no DNS work,
// usable at once), linked to a Communication Services resource the app sends through with
// its user-assigned identity (no connection string: ACS_ENDPOINT + DefaultAzureCredential).
//
// Role: Microsoft's ACS e-mail documentation for sending with Microsoft Entra ID (SMTP and
// the Email SDK, "Use a custom role to limit permissions granted to the Microsoft Entra
// Application", MicrosoftDocs/azure-docs, communication-services email includes) names the
// built-in "Communication and Email Service Owner" (id 09976791-48a7-449e-bb21-39d1a415f350),
// or a custom role with Microsoft.Communication/CommunicationServices/Read,
// Microsoft.Communication/CommunicationServices/Write and
// Microsoft.Communication/EmailServices/write. The built-in role is used, scoped to this one
// ACS resource: creating a custom role needs roleDefinitions/write, which the "Contributor +
// Role Based Access Control Administrator" deployer of docs/deployment.md does not have.
//
// An Azure-managed domain has low sending limits (a few per minute and hour, meant for
// trials) and a fixed sender DoNotReply@<guid>.azurecomm.net; production should connect a
// custom, DNS-verified domain (docs/deployment.md "E-mail: Azure Communication Services").
metadata description = 'Communication Services + Email Communication Service with an Azure-managed domain, linked; the app identity may send.'

@minLength(1)
@maxLength(63)
@description('Name of the Communication Services resource (https://<name>.<geo>.communication.azure.com).')
param name string

@minLength(1)
@maxLength(63)
@description('Name of the Email Communication Service resource.')
param emailServiceName string

@description('Tags applied to the resources.')
param tags object

@allowed([
  'United States'
  'Europe'
  'UK'
  'Australia'
  'Japan'
  'France'
  'Switzerland'
  'Germany'
  'Norway'
  'Korea'
  'India'
  'Canada'
  'Brazil'
  'UAE'
  'Asia Pacific'
  'Africa'
])
@description('Geography where ACS stores data at rest (both resources are global; this is their data location).')
param dataLocation string = 'Europe'

@description('Principal (object) id of the function app identity, granted Communication and Email Service Owner.')
param appPrincipalId string

var communicationAndEmailServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350'

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

// The Azure-managed domain must be named exactly AzureManagedDomain.
resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
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

@description('Resource id of the Communication Services resource.')
output resourceId string = communicationService.id

@description('Endpoint of the Communication Services resource (ACS_ENDPOINT).')
output endpoint string = 'https://${communicationService.properties.hostName}'

@description('The managed domain\'s sender domain, <guid>.azurecomm.net.')
output senderDomain string = managedDomain.properties.mailFromSenderDomain

@description('The sender address of the managed domain (EMAIL_SENDER).')
output sender string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
