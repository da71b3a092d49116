import { defineConfig } from 'vitest/config';

// Every suite runs on SQLite; with TEST_MYSQL_URL set, the database suites run again on MySQL.
// Suites that do not touch a database (tests/unit) or that drive whole processes and browsers
// (tests/e2e) run once, and so do the cluster suites (tests/cluster), which start MariaDB servers
// (Galera, replicas) of their own: the `cluster` project.
const mysqlUrl = process.env.TEST_MYSQL_URL;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true as const,
        test: {
          name: 'sqlite',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/cluster/**'],
          env: { HDMS_TEST_DB: 'sqlite' },
        },
      },
      {
        extends: true as const,
        test: {
          name: 'cluster',
          include: ['tests/cluster/**/*.test.ts'],
          env: { HDMS_TEST_DB: 'mysql' },
          testTimeout: 120_000,
        },
      },
      ...(mysqlUrl
        ? [
            {
              extends: true as const,
              test: {
                name: 'mysql',
                include: ['tests/**/*.test.ts'],
                exclude: ['tests/unit/**', 'tests/e2e/**', 'tests/cluster/**'],
                env: { HDMS_TEST_DB: 'mysql' },
              },
            },
          ]
        : []),
    ],
  },
});
