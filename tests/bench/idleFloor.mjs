// The floor of an idle HDMS's CPU on this machine: a bare Node process that only does what the
// event feed must, with the same database driver and no HDMS code: it reads the change-event
// table `perSecond` times a second (1: no subscriber, the job dispatcher's follow poll; 4: the
// 250 ms bound while anyone subscribes), plus `timers` one-second timers (the loop-lag sample;
// with subscribers also the streams' ticker). `npm run bench -- events` runs it beside HDMS.
// Usage: node tests/bench/idleFloor.mjs <DATABASE_URL> <perSecond> <timers>
const [url, perSecond, timers] = process.argv.slice(2);
const QUERY =
  'SELECT id, type, entity_id, patient_id, fields, created_at FROM change_events WHERE id > 0 ORDER BY id DESC LIMIT 1';

let read;
if (url.startsWith('mysql:') || url.startsWith('mariadb:')) {
  const { default: mysql } = await import('mysql2');
  const parsed = new URL(url.replace(/^mariadb:/, 'mysql:'));
  const connection = mysql.createConnection({
    host: parsed.hostname,
    port: Number(parsed.port || 3306),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: parsed.pathname.slice(1),
  });
  read = () => connection.query(QUERY, () => undefined);
} else {
  const { default: sqlite3 } = await import('sqlite3');
  const file = url.replace(/^sqlite:(\/\/)?/, '');
  const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY);
  read = () => db.all(QUERY, () => undefined);
}
setInterval(read, 1000 / Number(perSecond));
for (let i = 0; i < Number(timers); i++) setInterval(() => undefined, 1000);
