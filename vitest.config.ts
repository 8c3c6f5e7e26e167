import { defineConfig } from 'vitest/config'

export const config = defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
})

// vitest loads the config's default export.
// eslint-disable-next-line no-restricted-syntax
export default config
