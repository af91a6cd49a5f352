import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * The console's operation types, generated from the committed schema (introspection is off in
 * production, so nothing is read from a running gateway). Documents become typed strings: the console
 * posts them with fetch, and no GraphQL runtime ships to the browser.
 */
const config: CodegenConfig = {
  schema: 'apps/console/schema.graphql',
  documents: ['apps/console/src/api/operations.graphql'],
  ignoreNoDocuments: false,
  silent: true,
  generates: {
    'apps/console/src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { documentMode: 'string', useTypeImports: true, enumsAsTypes: true, skipTypename: true },
    },
  },
};

export default config;
