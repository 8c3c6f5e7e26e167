// The detector registry: adding a detector is one file and one line here.
import type { DetectorDef } from '../src/engine/detector.ts'
import { emailTelemetry } from './email-telemetry.ts'
import { fanout } from './fanout.ts'
import { modelShift } from './model-shift.ts'
import { mudViolation } from './mud-violation.ts'
import { newDestination } from './new-destination.ts'
import { portNovelty } from './port-novelty.ts'
import { smtpBurst } from './smtp-burst.ts'
import { volumeSpike } from './volume-spike.ts'

export const DETECTORS: readonly DetectorDef[] = [smtpBurst, emailTelemetry, newDestination, fanout, volumeSpike, portNovelty, mudViolation, modelShift]
