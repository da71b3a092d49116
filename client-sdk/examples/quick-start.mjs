// The SDK in plain JavaScript: sign in, who am I, the first page of doctors, a NOT_FOUND, sign out.
// npm run build:sdk && HDMS_USERNAME=admin HDMS_PASSWORD=… node client-sdk/examples/quick-start.mjs
import { isTRPCClientError, signIn } from '@hdms/client';

const url = process.env.HDMS_URL ?? 'http://127.0.0.1:3000';
const { HDMS_USERNAME: username, HDMS_PASSWORD: password } = process.env;
if (!username || !password) {
  console.error('Set HDMS_USERNAME and HDMS_PASSWORD (and HDMS_URL if the server is elsewhere).');
  process.exit(2);
}

try {
  const { client } = await signIn(url, username, password);
  const me = await client.auth.me.query();
  console.log(`Signed in as ${me.username} (${me.role}).`);

  const { items, nextCursor } = await client.doctors.list.query({ limit: 10 });
  for (const doctor of items) console.log(`#${doctor.id} ${doctor.name} (${doctor.specialization})`);
  console.log(`${items.length} doctor(s) on the first page${nextCursor === null ? '' : '; more follow'}.`);

  try {
    await client.doctors.get.query({ id: 2_147_483_647 });
  } catch (error) {
    if (!isTRPCClientError(error) || error.data?.code !== 'NOT_FOUND') throw error;
    console.log(`No doctor #2147483647: ${error.data.code} (${error.message}).`);
  }

  await client.auth.logout.mutate();
  console.log('Signed out.');
} catch (error) {
  const code = isTRPCClientError(error) ? (error.data?.code ?? `no answer from ${url}`) : error?.name;
  console.error(`HDMS quick start failed: ${code}: ${error?.message ?? error}`.replace(/\s+/g, ' '));
  process.exit(1);
}
