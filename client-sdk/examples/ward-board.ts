/**
 * A ward board: signs in (a doctor sees their patients, an admin every patient), prints every
 * patient's room and bed and last check-up, then follows `events.onChange` and prints the line of
 * each patient that changes, as it changes. The subscription resumes by itself after a dropped
 * connection or a server restart, with no event missed or repeated; if it was away longer than the
 * server keeps events (PRECONDITION_FAILED), the board reloads and subscribes afresh.
 *
 *   HDMS_URL=http://127.0.0.1:3000 HDMS_USERNAME=dr.house HDMS_PASSWORD=... \
 *     npx tsx client-sdk/examples/ward-board.ts
 *
 * Node 20 has no EventSource: the `eventsource` package provides one (npm install eventsource).
 * In your own project: `import { signIn, isTRPCClientError } from '@hdms/client';`
 */
import { EventSource } from 'eventsource';
import { type HdmsClient, isTRPCClientError, signIn } from '../src/index';

const url = process.env.HDMS_URL ?? 'http://127.0.0.1:3000';
const username = process.env.HDMS_USERNAME;
const password = process.env.HDMS_PASSWORD;
if (!username || !password) {
  console.error('Set HDMS_USERNAME and HDMS_PASSWORD (and HDMS_URL if the server is not on port 3000).');
  process.exit(2);
}

/** Prints one patient's line: room, bed, name, and when they were last checked. */
async function printPatient(client: HdmsClient, id: number): Promise<void> {
  try {
    const patient = await client.patients.get.query({ id });
    const checks = await client.checkHistory.list.query({ patientId: id, limit: 1 });
    const last = checks.items[0]?.checkTime.toISOString() ?? 'never';
    console.log(
      `room ${patient.roomNumber ?? '-'}\tbed ${patient.bedNumber ?? '-'}\t${patient.name}\tlast check ${last}`,
    );
  } catch (error) {
    // Moved to another doctor since the event: no longer on this board.
    if (isTRPCClientError(error) && error.data?.code === 'NOT_FOUND')
      console.log(`patient #${id} left the board`);
    else throw error;
  }
}

/** Prints the whole board, a page at a time. */
async function printBoard(client: HdmsClient): Promise<void> {
  let cursor: number | null = null;
  do {
    const page = await client.patients.list.query({ limit: 100, cursor });
    for (const patient of page.items) await printPatient(client, patient.id);
    cursor = page.nextCursor;
  } while (cursor !== null);
}

const { client, user } = await signIn(url, username, password, { EventSource });
console.log(`Ward board for ${user.username} (${user.role})`);

function follow(): void {
  const subscription = client.events.onChange.subscribe(
    { types: ['patient.created', 'patient.updated', 'checkHistory.created'] },
    {
      onData({ data: event }) {
        // An event names what changed, never the values: read the record through the API.
        if (event.patientId !== null) void printPatient(client, event.patientId);
      },
      onConnectionStateChange(state) {
        if (state.state === 'connecting' && state.error) console.log('connection lost; resuming…');
      },
      onError(error) {
        subscription.unsubscribe();
        if (error.data?.code === 'PRECONDITION_FAILED') {
          console.log('away too long: reloading the board');
          void printBoard(client).then(follow);
        } else {
          console.error(`subscription ended: ${error.data?.code ?? ''} ${error.message}`);
          process.exit(1);
        }
      },
    },
  );
}

await printBoard(client);
follow();
