// Finds the binaries of Debian's prometheus package (prometheus, promtool) for the tests that run them.
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/** An executable on PATH or in /usr/bin; fails the test (never skips it) when there is none. */
export const binary = (name: string): string => {
  const found = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), '/usr/bin'].map((d) => join(d, name)).find((p) => {
    try {
      accessSync(p, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (found === undefined) throw new Error(`${name} is not on PATH nor in /usr/bin: install Debian's prometheus package (apt-get install -y prometheus), as .ci/run does`)
  return found
}
