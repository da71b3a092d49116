import type { RouterInputs } from '../client';
import { CliError, EXIT, explain } from './errors';
import type { Session } from './session';

/** `hdms events` flags. */
export interface EventsOptions {
  type?: string[];
  patient?: number;
  since?: number;
  json?: boolean;
}

type OnChangeInput = Extract<RouterInputs['events']['onChange'], object>;
/** What `hdms events` prints of an event (the compiler checks that `events.onChange` delivers it). */
interface ChangeEvent {
  id: number;
  type: string;
  entity: string;
  entityId: number;
  patientId: number | null;
  fields: string[];
  at: Date;
}

/** One event as a line: `#12 2026-01-07T09:05:10Z patient.updated patient #4 fields: diagnosis`. */
function lineOf(event: ChangeEvent): string {
  const at = event.at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const patient =
    event.patientId !== null && event.entity !== 'patient' ? ` (patient #${event.patientId})` : '';
  const fields = event.fields.length > 0 ? ` fields: ${event.fields.join(', ')}` : '';
  return `#${event.id} ${at} ${event.type} ${event.entity} #${event.entityId}${patient}${fields}`;
}

/**
 * `hdms events`: prints each change as it commits (`events.onChange` over server-sent events),
 * until Ctrl-C. After a dropped connection the SDK reconnects by itself and resumes after the last
 * event printed (`lastEventId`): none is missed or printed twice; the notices about it go to
 * stderr. Resolves when stopped by a signal; rejects when the server ends the subscription.
 */
export function followEvents(session: Session, options: EventsOptions): Promise<void> {
  const input: OnChangeInput = {
    types: options.type as OnChangeInput['types'],
    patientId: options.patient,
    lastEventId: options.since,
  };
  const note = (line: string) => process.stderr.write(`${line}\n`);
  let lastId: string | null = options.since === undefined ? null : String(options.since);
  let listening = false;
  let reconnecting = false;

  return new Promise<void>((resolve, reject) => {
    const subscription = session.client.events.onChange.subscribe(input, {
      onStarted() {
        if (!listening) note(`Listening for changes at ${session.url} (Ctrl-C to stop)`);
        listening = true;
      },
      onData({ id, data }) {
        lastId = id;
        process.stdout.write(`${options.json ? JSON.stringify(data) : lineOf(data)}\n`);
      },
      onConnectionStateChange(state) {
        if (state.state === 'connecting' && listening && !reconnecting) {
          reconnecting = true;
          const why = state.error ? ` (${state.error.message})` : '';
          note(
            `Connection lost${why}; reconnecting, to resume after event ${lastId ? `#${lastId}` : '(none yet)'}`,
          );
        } else if (state.state === 'pending' && reconnecting) {
          reconnecting = false;
          note(`Reconnected; resuming after event ${lastId ? `#${lastId}` : '(none yet)'}`);
        }
      },
      onError(error) {
        stop();
        const code = error.data?.code;
        if (code === 'BAD_REQUEST') reject(new CliError(`BAD_REQUEST: ${error.message}`, EXIT.usage));
        else if (code === 'PRECONDITION_FAILED') {
          reject(
            new CliError(
              `${error.message}: start again without --since (events that old are no longer kept)`,
            ),
          );
        } else reject(explain(error, session.url));
      },
    });
    const onSignal = () => {
      stop();
      resolve();
    };
    function stop() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      subscription.unsubscribe();
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
