export { createSecretStore, MAX_SECRET_BYTES, secretName, type SecretInfo, type SecretStore } from './store.ts';
export { secretsSettings, type SecretsSettings } from './keks.ts';
