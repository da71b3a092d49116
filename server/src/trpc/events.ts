import { z } from 'zod';
import { EVENT_TYPES } from '../domain/events/record';
import { toTRPCError } from '../errors';
import { EventSubscriptionRequest } from '../events/subscription';
import { idSchema } from '../lib/schemas';
import { subscriberProcedure } from './procedures';
import { router } from './init';

/** An event id as clients send it back (tRPC sends the last tracked id as a string). */
const eventId = z.union([
  z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  z
    .string()
    .regex(/^\d{1,10}$/, 'must be the id of an event you received')
    .transform(Number)
    .pipe(z.number().max(2 ** 31 - 1, 'must be the id of an event you received')),
]);

/** `events.onChange` input. */
export const onChangeInput = z
  .object({
    types: z
      .array(z.enum(EVENT_TYPES, { message: `must be event types: ${EVENT_TYPES.join(', ')}` }))
      .min(1, 'must name at least one event type (or leave types out for all)')
      .max(EVENT_TYPES.length)
      .optional(),
    patientId: idSchema.optional(),
    lastEventId: eventId.nullish(),
  })
  .strict();

/** Change events: what changed, as it is committed, for ward boards and screens that refresh. */
export const eventsRouter = router({
  onChange: subscriberProcedure
    .meta({
      description:
        'Subscribe (server-sent events) to changes as they commit: doctor.created/updated, patient.created/updated, checkHistory.created, note.created, job.queued/running/succeeded/failed/cancelled, emergency.opened (admins and the patient’s assigned doctor). Each event names the record, its patient and the fields changed, never their values; you receive only events about records you may read, checked against current assignments, consents and emergency accesses. Filter with `types` and `patientId`. Every event carries its id: reconnecting with `lastEventId` (the SDK does it for you) delivers every event you missed, in order, none twice. An id older than EVENT_RETENTION_HOURS is PRECONDITION_FAILED: refetch, then subscribe afresh.',
    })
    .input(onChangeInput.default({}))
    // The server's own SSE writer serves what this returns (events/stream.ts); tRPC iterates it
    // where that writer is not mounted.
    .subscription(
      ({ ctx, input, signal }) =>
        new EventSubscriptionRequest(
          ctx,
          ctx.actor,
          ctx.scope,
          {
            types: input.types,
            patientId: input.patientId,
            lastEventId: input.lastEventId ?? undefined,
          },
          signal,
          toTRPCError,
        ),
    ),
});
