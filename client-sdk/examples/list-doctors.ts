/**
 * Signs in, optionally adds doctors (`HDMS_ADD_DOCTORS="Dr. Ada:Cardiology,Dr. Bo:Surgery"`, an
 * admin's job: one `createMany` call, all or nothing), and prints every doctor, a page at a time.
 *
 * Run it against a running server (`npm start` prints the URL and how to sign in):
 *
 *   HDMS_URL=http://127.0.0.1:3000 HDMS_USERNAME=admin HDMS_PASSWORD=... \
 *     npx tsx client-sdk/examples/list-doctors.ts
 *
 * In your own project, install the SDK and import it by name instead:
 * `import { signIn, isTRPCClientError } from '@hdms/client';`
 */
import { isTRPCClientError, signIn } from '../src/index';

const url = process.env.HDMS_URL ?? 'http://127.0.0.1:3000';
const username = process.env.HDMS_USERNAME;
const password = process.env.HDMS_PASSWORD;
if (!username || !password) {
  console.error('Set HDMS_USERNAME and HDMS_PASSWORD (and HDMS_URL if the server is not on port 3000).');
  process.exit(2);
}

try {
  const { client, user, expiresAt } = await signIn(url, username, password);
  console.log(`Signed in as ${user.username} (${user.role}); idle expiry ${expiresAt.toISOString()}.`);

  const toAdd = (process.env.HDMS_ADD_DOCTORS ?? '')
    .split(',')
    .filter((entry) => entry.includes(':'))
    .map((entry) => {
      const [name = '', specialization = ''] = entry.split(':');
      return { name: name.trim(), specialization: specialization.trim() };
    });
  if (toAdd.length) {
    const added = await client.doctors.createMany.mutate(toAdd);
    console.log(`Added ${added.map((d) => `#${d.id} ${d.name}`).join(', ')}.`);
  }

  let cursor: number | null = null;
  let count = 0;
  do {
    const page = await client.doctors.list.query({ limit: 100, cursor });
    for (const doctor of page.items) {
      console.log(`#${doctor.id}\t${doctor.name}\t${doctor.specialization}`);
    }
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null);
  console.log(`${count} doctor${count === 1 ? '' : 's'}.`);

  await client.auth.logout.mutate();
} catch (error) {
  if (!isTRPCClientError(error)) throw error;
  console.error(`HDMS answered ${error.data?.code ?? 'an error'}: ${error.message}`);
  process.exit(1);
}
