/**
 * `@hdms/client`: the typed tRPC client (`createClient`, `signIn`) and the REST helpers for what
 * tRPC does not carry (a CSV file upload, an export download). The `hdms` command (`src/cli/`)
 * is built on these and is a separate entry point: importing this module loads none of it.
 */
export * from './client';
export * from './rest';
