// The one storage account of the app: the Functions host (AzureWebJobsStorage: timers,
// queue triggers and their poison queues, host keys), the app's tables, queues and blobs,
// and the Flex Consumption deployment package. Entra ID only: shared keys and SAS signed
// with them are refused (allowSharedKeyAccess: false), so there is no key to leak or rotate.
// The app creates its own tables, queues and containers on first use (create-if-missing),
// so only the deployment container is declared here.
metadata description = 'Storage account without shared keys, with the Flex deployment container.'

@minLength(3)
@maxLength(24)
@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
param name string

@description('Azure region of the account.')
param location string

@description('Tags applied to the account.')
param tags object

@description('Name of the blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
@description('Replication of the account. ZRS survives a zone outage where the region has zones.')
param skuName string = 'Standard_LRS'

@minValue(1)
@maxValue(365)
@description('Days a deleted blob or container can be restored (soft delete).')
param deleteRetentionDays int = 7

@minValue(0)
@description('Delete archived raw provider answers (container weather-raw) this many days after they were written; 0 keeps them forever.')
param rawArchiveRetentionDays int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    dnsEndpointType: 'Standard'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource rawArchiveLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = if (rawArchiveRetentionDays > 0) {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-weather-raw'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'weather-raw/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: rawArchiveRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

@description('Resource id of the storage account.')
output resourceId string = storage.id

@description('Name of the storage account.')
output name string = storage.name

@description('Blob endpoint, https://<name>.blob.core.windows.net/')
output blobEndpoint string = storage.properties.primaryEndpoints.blob

@description('Queue endpoint, https://<name>.queue.core.windows.net/')
output queueEndpoint string = storage.properties.primaryEndpoints.queue

@description('Table endpoint, https://<name>.table.core.windows.net/')
output tableEndpoint string = storage.properties.primaryEndpoints.table

@description('Name of the deployment package container.')
output deploymentContainerName string = deploymentContainer.name
