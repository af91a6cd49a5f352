/**
 * Five projects: unit specs beside the code; medium specs (real modules on a fresh SQLite file built by
 * the migrations, no HTTP, no workers); the same end-to-end suite twice, once on the embedded drivers
 * (SQLite + in-process queue) and once on PostgreSQL + Bull/Redis; and the operator console driven in a
 * headless Chromium against a gateway on SQLite.
 */
const base = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: __dirname,
  testEnvironment: 'node',
  // Diagnostics on: what ts-jest reports per file (isolatedModules keeps it a transpile); the full type
  // check of every file, tests included, is `npm run typecheck`, which .ci/run runs before the tests.
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: true }] },
  moduleNameMapper: { '^@app/([a-z-]+)$': '<rootDir>/libs/$1/src' },
};

module.exports = {
  testTimeout: 60000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    { ...base, displayName: 'medium', testMatch: ['<rootDir>/test/medium/**/*.medium-spec.ts'] },
    { ...base, displayName: 'sqlite', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], setupFiles: ['<rootDir>/test/support/driver-sqlite.ts'] },
    {
      ...base,
      displayName: 'postgres',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts', '<rootDir>/test/**/*.pg-e2e-spec.ts'],
      setupFiles: ['<rootDir>/test/support/driver-postgres.ts'],
    },
    { ...base, displayName: 'browser', testMatch: ['<rootDir>/test/**/*.browser-spec.ts'], setupFiles: ['<rootDir>/test/support/driver-sqlite.ts'] },
  ],
};
