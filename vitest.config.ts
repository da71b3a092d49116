import { defineConfig } from 'vitest/config';

// Every suite runs on SQLite; with TEST_MYSQL_URL set, the database suites run again on MySQL.
// Suites that do not touch a database (tests/unit) or that drive whole processes and browsers
// (tests/e2e) run once.
const mysqlUrl = process.env.TEST_MYSQL_URL;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true as const,
        test: { name: 'sqlite', include: ['tests/**/*.test.ts'], env: { HDMS_TEST_DB: 'sqlite' } },
      },
      ...(mysqlUrl
        ? [
            {
              extends: true as const,
              test: {
                name: 'mysql',
                include: ['tests/**/*.test.ts'],
                exclude: ['tests/unit/**', 'tests/e2e/**'],
                env: { HDMS_TEST_DB: 'mysql' },
              },
            },
          ]
        : []),
    ],
  },
});
