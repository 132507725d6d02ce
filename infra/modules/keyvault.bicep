// Key Vault in RBAC mode holding the app's secrets. The function app never sees a secret
// in its configuration: each secret app setting is a Key Vault reference,
// @Microsoft.KeyVault(SecretUri=...), resolved by the platform with the user-assigned
// identity (keyVaultReferenceIdentity on the site, Key Vault Secrets User in rbac.bicep).
//
// References carry the secret *version*: every provision that writes a secret creates a new
// version, the app setting value changes with it, and the platform re-resolves and restarts
// the app at once (a versionless reference is only re-read within 24 hours).
metadata description = 'Key Vault (RBAC, soft delete) with the app secrets and their app setting references.'

@minLength(3)
@maxLength(24)
@description('Name of the vault (3-24 letters, digits and hyphens, globally unique).')
param name string

@description('Azure region of the vault.')
param location string

@description('Tags applied to the vault.')
param tags object

@minValue(7)
@maxValue(90)
@description('Days a deleted vault or secret stays recoverable. Cannot be changed after the vault is created.')
param softDeleteRetentionInDays int = 7

@description('Purge protection: a deleted vault or secret cannot be purged before the retention ends. Irreversible once on; it also blocks `azd down --purge` from freeing the vault name.')
param enablePurgeProtection bool = false

@secure()
@description('Token signing key of the app (AUTH_SIGNING_KEY), at least 32 bytes.')
@minLength(32)
param authSigningKey string

@secure()
@description('OpenWeatherMap API key (OPENWEATHER_API_KEY); stored only when hasOpenWeatherApiKey is true.')
param openWeatherApiKey string = ''

@description('Whether openWeatherApiKey is set (a plain bool, so that no output or condition reads the secure value).')
param hasOpenWeatherApiKey bool = false

@secure()
@description('SMTP password (SMTP_PASSWORD); stored only when hasSmtpPassword is true.')
param smtpPassword string = ''

@description('Whether smtpPassword is set (a plain bool, so that no output or condition reads the secure value).')
param hasSmtpPassword bool = false

@description('Names of the social sign-in providers (the "name" of each OAUTH_PROVIDERS entry). Each gets the app setting OAUTH_<NAME>_CLIENT_SECRET, a Key Vault reference to the secret oauth-<name>-client-secret.')
param oauthProviderNames array = []

@secure()
@description('Client secrets of those providers, {"<name>": "<secret>"}. A provider missing here still gets its reference: set its secret out of band (az keyvault secret set, docs/deployment.md), never in a template.')
param oauthClientSecrets object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The API accepts only true or null here: false is rejected.
    enablePurgeProtection: enablePurgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource authSigningKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-signing-key'
  properties: {
    value: authSigningKey
    contentType: 'text/plain'
  }
}

resource openWeatherApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (hasOpenWeatherApiKey) {
  parent: vault
  name: 'openweather-api-key'
  properties: {
    value: openWeatherApiKey
    contentType: 'text/plain'
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (hasSmtpPassword) {
  parent: vault
  name: 'smtp-password'
  properties: {
    value: smtpPassword
    contentType: 'text/plain'
  }
}

// One secret per provider whose secret came in oauthClientSecrets. The ternary is evaluated
// lazily by ARM, so a provider without a secret never indexes the object.
resource oauthClientSecretSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for providerName in oauthProviderNames: if (contains(oauthClientSecrets, providerName)) {
    parent: vault
    name: 'oauth-${toLower(replace(providerName, '_', '-'))}-client-secret'
    properties: {
      value: contains(oauthClientSecrets, providerName) ? oauthClientSecrets[providerName] : ''
      contentType: 'text/plain'
    }
  }
]

// App setting name -> Key Vault reference. Optional secrets add their setting only when set.
var authSigningKeyReference = {
  AUTH_SIGNING_KEY: '@Microsoft.KeyVault(SecretUri=${authSigningKeySecret.properties.secretUriWithVersion})'
}
var openWeatherApiKeyReference = hasOpenWeatherApiKey ? { OPENWEATHER_API_KEY: '@Microsoft.KeyVault(SecretUri=${openWeatherApiKeySecret.properties.secretUriWithVersion})' } : {}
var smtpPasswordReference = hasSmtpPassword ? { SMTP_PASSWORD: '@Microsoft.KeyVault(SecretUri=${smtpPasswordSecret.properties.secretUriWithVersion})' } : {}

// Versionless references (built from the vault name, a deployment-time constant, because a
// lambda may not read runtime resource properties): a secret set out of band (or rotated) is picked up without a new
// provision, on the platform's next read (within 24 hours, or at once on a restart).
var oauthClientSecretReferences = toObject(
  oauthProviderNames,
  providerName => 'OAUTH_${toUpper(replace(providerName, '-', '_'))}_CLIENT_SECRET',
  providerName => '@Microsoft.KeyVault(SecretUri=https://${name}${environment().suffixes.keyvaultDns}/secrets/oauth-${toLower(replace(providerName, '_', '-'))}-client-secret/)'
)

@description('Resource id of the vault.')
output resourceId string = vault.id

@description('Name of the vault.')
output name string = vault.name

@description('URI of the vault, https://<name>.vault.azure.net/')
output vaultUri string = vault.properties.vaultUri

@description('App settings whose values are Key Vault references (setting name -> @Microsoft.KeyVault(SecretUri=...)); no secret value.')
output appSettingReferences object = union(authSigningKeyReference, openWeatherApiKeyReference, smtpPasswordReference, oauthClientSecretReferences)
