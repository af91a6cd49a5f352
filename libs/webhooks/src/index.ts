export * from './webhooks.module';
export * from './webhooks.service';
export { isPublicAddress, checkTargetSyntax, resolveSafeTarget, UnsafeTargetError } from './ssrf-guard';
export { signedHeaders } from './webhook-signer';
