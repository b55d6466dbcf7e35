export * from './errors.ts';
export * from './www-authenticate.ts';
export * from './pkce.ts';
export * from './scope.ts';
export * from './roles.ts';
export * from './metadata.ts';
export * from './redirect-uri.ts';
