// Role assignments inside the resource group: everything the app's identity may do, and
// (optionally) the data roles of the person who deploys, for local debugging against the
// real account and for the runbook's `az storage ... --auth-mode login` commands.
// Built-in role definition ids are the same in every tenant.
metadata description = 'Least-privilege data-plane roles for the app identity (and optionally the deploying user).'

@description('Name of the storage account the roles are scoped to.')
param storageAccountName string

@description('Name of the Application Insights component (Monitoring Metrics Publisher scope).')
param applicationInsightsName string

@description('Name of the Key Vault (Key Vault Secrets User scope).')
param keyVaultName string

@description('Principal (object) id of the function app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal (object) id of the deploying user or CI principal; empty: no assignment for it.')
param userPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of userPrincipalId.')
param userPrincipalType string = 'User'

var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Blob Data Owner (not Contributor) is what the Functions docs require of an identity-based
// AzureWebJobsStorage: the host keeps its keys, timer schedules and singleton leases there.
var storageRoles = [
  {
    name: 'Storage Blob Data Owner'
    id: roleIds.storageBlobDataOwner
  }
  {
    name: 'Storage Queue Data Contributor'
    id: roleIds.storageQueueDataContributor
  }
  {
    name: 'Storage Table Data Contributor'
    id: roleIds.storageTableDataContributor
  }
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, appPrincipalId, role.id)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
      description: '${role.name}: function app identity'
    }
  }
]

resource userStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: if (!empty(userPrincipalId)) {
    name: guid(storage.id, userPrincipalId, role.id)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
      principalId: userPrincipalId
      principalType: userPrincipalType
      description: '${role.name}: deploying principal (debugging, runbook)'
    }
  }
]

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Monitoring Metrics Publisher: telemetry with Entra ID (local auth is off)'
  }
}

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, roleIds.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Key Vault Secrets User: resolves the app setting Key Vault references'
  }
}

// The deploying principal may write secrets set out of band (the OAuth client secrets of
// docs/deployment.md, `az keyvault secret set`); the vault is in RBAC mode, so being Owner of the
// subscription does not by itself allow reading or writing secrets.
resource userSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(vault.id, userPrincipalId, roleIds.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsOfficer)
    principalId: userPrincipalId
    principalType: userPrincipalType
    description: 'Key Vault Secrets Officer: deploying principal sets the secrets kept out of templates'
  }
}
