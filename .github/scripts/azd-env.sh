#!/usr/bin/env bash
# Prepares the azd environment on a fresh GitHub runner, after azure/login (OIDC):
# .github/workflows/deploy.yml. Expects AZURE_ENV_NAME, AZURE_ENV_TYPE, AZURE_LOCATION,
# AZURE_SUBSCRIPTION_ID, and optional CFG_<NAME> values from repository variables.
set -euo pipefail
: "${AZURE_ENV_NAME:?}" "${AZURE_ENV_TYPE:?}" "${AZURE_LOCATION:?}" "${AZURE_SUBSCRIPTION_ID:?}"

# azd uses the session azure/login opened (a federated token, no secret).
azd config set auth.useAzCliAuth true

if ! azd env select "$AZURE_ENV_NAME" 2>/dev/null; then
  azd env new "$AZURE_ENV_NAME" --subscription "$AZURE_SUBSCRIPTION_ID" \
    --location "$AZURE_LOCATION" --no-prompt
fi
azd env set AZURE_ENV_TYPE "$AZURE_ENV_TYPE"

# Non-secret settings from repository variables. An empty variable is left unset, so that
# main.parameters.json leaves the parameter out and the template default applies (an empty
# string is not a valid JSON list for the list parameters).
for name in OAUTH_PROVIDERS ALLOWED_ORIGINS ALERT_EMAILS ADMIN_EMAILS; do
  var="CFG_$name"
  value="${!var:-}"
  if [ -n "$value" ]; then
    azd env set "$name" "$value"
  fi
done

# The runner starts with no azd environment file, so the preprovision hook would generate
# a new AUTH_SIGNING_KEY on every run and sign every user out. Read the current one back
# from the environment's Key Vault instead (the deploying principal holds Key Vault
# Secrets Officer there, infra/modules/rbac.bicep). First run: no vault yet, the hook
# generates the key.
rg="rg-$AZURE_ENV_NAME"
if [ "$(az group exists --name "$rg")" = "true" ]; then
  vault="$(az keyvault list --resource-group "$rg" --query "[0].name" -o tsv)"
  if [ -n "$vault" ]; then
    key="$(az keyvault secret show --vault-name "$vault" --name auth-signing-key --query value -o tsv)"
    echo "::add-mask::$key"
    azd env set AUTH_SIGNING_KEY "$key" > /dev/null
  fi
fi
