import { defineConfig } from 'vitest/config'

export const config = defineConfig({
  test: {
    testTimeout: 60_000,
    pool: 'forks',
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/e2e/**/*.test.ts'], testTimeout: 60_000, pool: 'forks' } },
      {
        // Against a real Apache Kafka broker: one for the whole project, started by the global setup.
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/kafka.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
})

// vitest loads the config's default export.
// eslint-disable-next-line no-restricted-syntax
export default config
