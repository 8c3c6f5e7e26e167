// Lint: typescript-eslint's recommended rules plus the import direction of ARCHITECTURE.md.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const noImport = (patterns, message) => ['error', { patterns: [{ group: patterns, message }] }]

// eslint loads the config's default export.
// eslint-disable-next-line no-restricted-syntax
export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.kafka/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['bin/**/*.js'], languageOptions: { globals: { process: 'readonly' } } },
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    // Detectors are pure: no I/O, no clocks, no other layers.
    files: ['detectors/**/*.ts'],
    rules: {
      'no-restricted-imports': noImport(
        ['node:*', '**/sources/**', '**/sinks/**', '**/metrics/**', '**/cli/**', '**/config/**', 'kafkajs', 'prom-client'],
        'detectors import only types, the detector contract, window math and zod',
      ),
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'Detectors use event time.' }],
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/alerts/**/*.ts', 'src/decode/**/*.ts'],
    rules: {
      'no-restricted-imports': noImport(
        ['**/sources/**', '**/sinks/**', '**/cli/**', 'kafkajs', '**/detectors/**'],
        'the core does not import the edges (ARCHITECTURE.md: imports point one way)',
      ),
    },
  },
  {
    // kafkajs stays behind one adapter per direction.
    files: ['**/*.ts'],
    ignores: ['src/sources/kafka.ts', 'src/sinks/kafka.ts', 'src/kafka/**', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-imports': noImport(['kafkajs'], 'kafkajs is imported only by its adapters') },
  },
)
