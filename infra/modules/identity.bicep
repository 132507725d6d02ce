// The app's only credential: a user-assigned managed identity. A user-assigned identity
// (not the site's system identity) exists before the function app, so its role assignments
// can be in place when the app first starts and reads its deployment package, queues and
// Key Vault references.
metadata description = 'User-assigned managed identity of the function app.'

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity (for identity blocks and keyVaultReferenceIdentity).')
output resourceId string = identity.id

@description('Name of the identity.')
output name string = identity.name

@description('Client (application) id of the identity: AzureWebJobsStorage__clientId, AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId

@description('Object (principal) id of the identity, the subject of the role assignments.')
output principalId string = identity.properties.principalId
