/**
 * The perf bench's baseline: a hand-written server doing what HDMS does for the benchmarked
 * requests, with the same statements on the same tables (HDMS's migrations, HDMS's sessions),
 * and nothing else. Hono on @hono/node-server, mysql2/promise (a pool of POOL_MAX connections,
 * text protocol with client-side escaping like Sequelize) or sqlite3 (one connection for reads
 * and autocommit writes, one for write transactions, WAL, a 10 s busy timeout like HDMS).
 *
 * Per request, as HDMS: a server-made request id (UUID), the client address, the session looked
 * up by the token's SHA-256 hex joined to its user (LEFT JOIN, only the fields a request needs),
 * the idle (SESSION_IDLE_MINUTES) and absolute (SESSION_MAX_HOURS) expiry with the idle deadline
 * moved at most once a minute, disabled accounts refused, the caller's scope in the query, the
 * same validation limits on input, one audit row per patient read or created, and the same
 * answers (tRPC's superjson envelope, REST's snake_case fields) and security headers.
 *
 *   GET  /trpc/patients.list?input=…   GET /patients?limit=&after=   (keyset page, LIMIT n+1)
 *   GET  /trpc/patients.get?input=…
 *   POST /trpc/patients.createMany     POST /patients (an array)     (one transaction: doctor
 *        check, multi-row INSERTs of patients, audit rows and change events under the
 *        change_event_log row lock, as HDMS's createPatients)
 *   GET  /healthz                      (SELECT 1)
 *   GET  /_raw/statements              (how many statements it has sent, for the bench)
 *
 * Run: DATABASE_URL=mysql://root@127.0.0.1:3306/hdms_bench POOL_MAX=10 PORT=0 \
 *      node --import tsx tests/bench/raw/server.ts
 * It prints `raw baseline listening on http://host:port` and stops on SIGTERM.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type HttpBindings, serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type * as mysql from 'mysql2/promise';
import type { Database as SqliteDatabase, RunResult } from 'sqlite3';

// --- Configuration --------------------------------------------------------------------------

const DATABASE_URL = process.env.DATABASE_URL ?? '';
const POOL_MAX = Number(process.env.POOL_MAX ?? '10');
const IDLE_MS = Number(process.env.SESSION_IDLE_MINUTES ?? '30') * 60_000;
const MAX_MS = Number(process.env.SESSION_MAX_HOURS ?? '12') * 3_600_000;
const EXTEND_EVERY_MS = 60_000;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_JSON_DEPTH = 32;
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

// --- The database: the few operations the endpoints need, on MySQL or SQLite ----------------

type Row = Record<string, unknown>;

/** Statements on one connection (a transaction's) or on the pool. */
interface Executor {
  all(sql: string, params?: unknown[]): Promise<Row[]>;
  /** A write; `lastId` is the first inserted id on MySQL, the last on SQLite. */
  run(sql: string, params?: unknown[]): Promise<{ lastId: number; changes: number }>;
}

interface Store extends Executor {
  dialect: 'mysql' | 'sqlite';
  transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T>;
  /** A DATETIME value as this database stores it. */
  date(value: Date): unknown;
  /** A DATETIME column as read back. */
  readDate(value: unknown): Date;
  /** Statements sent so far. */
  statements: number;
}

/** The driver is loaded only for the dialect in use, as Sequelize does. */
async function openMysql(url: URL): Promise<Store> {
  const driver = (await import('mysql2/promise')).default;
  const pool = driver.createPool({
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
    connectionLimit: POOL_MAX,
    charset: 'utf8mb4',
    timezone: 'Z',
    supportBigNumbers: true,
  });
  // As Sequelize does on every new connection.
  pool.on('connection', (connection) => {
    connection.query("SET time_zone = '+00:00'");
  });
  const executor = (target: mysql.Pool | mysql.PoolConnection): Executor => ({
    async all(sql, params) {
      store.statements++;
      const [rows] = await target.query(sql, params);
      return rows as Row[];
    },
    async run(sql, params) {
      store.statements++;
      const [result] = await target.query(sql, params);
      const header = result as mysql.ResultSetHeader;
      return { lastId: header.insertId, changes: header.affectedRows };
    },
  });
  const store: Store = {
    dialect: 'mysql',
    statements: 0,
    ...executor(pool),
    async transaction(work) {
      const connection = await pool.getConnection();
      const tx = executor(connection);
      try {
        await tx.run('START TRANSACTION');
        const result = await work(tx);
        await tx.run('COMMIT');
        return result;
      } catch (error) {
        await tx.run('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        connection.release();
      }
    },
    date: (value) => value,
    readDate: (value) => value as Date,
  };
  return store;
}

async function openSqliteConnection(file: string): Promise<SqliteDatabase> {
  const sqlite3 = (await import('sqlite3')).default;
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (error) => {
      if (error) return reject(error);
      db.configure('busyTimeout', 10_000);
      db.run('PRAGMA FOREIGN_KEYS=ON');
      resolve(db);
    });
  });
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Sequelize's SQLite DATETIME text: `2025-01-31 12:00:00.000 +00:00`. */
function sqliteDate(d: Date): string {
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)} +00:00`
  );
}

async function openSqlite(file: string): Promise<Store> {
  const reader = await openSqliteConnection(file);
  const writer = await openSqliteConnection(file);
  await new Promise<void>((resolve, reject) =>
    reader.run('PRAGMA journal_mode = WAL', (error) => (error ? reject(error) : resolve())),
  );
  const executor = (db: SqliteDatabase): Executor => ({
    all(sql, params = []) {
      store.statements++;
      return new Promise((resolve, reject) =>
        db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as Row[]))),
      );
    },
    run(sql, params = []) {
      store.statements++;
      return new Promise((resolve, reject) =>
        db.run(sql, params, function (this: RunResult, error: Error | null) {
          if (error) reject(error);
          else resolve({ lastId: this.lastID, changes: this.changes });
        }),
      );
    },
  });
  // One writer at a time, as HDMS's `db.transaction` serialises them on SQLite.
  let queue: Promise<unknown> = Promise.resolve();
  const tx = executor(writer);
  const store: Store = {
    dialect: 'sqlite',
    statements: 0,
    ...executor(reader),
    transaction(work) {
      const run = queue.then(async () => {
        await tx.run('BEGIN IMMEDIATE TRANSACTION');
        try {
          const result = await work(tx);
          await tx.run('COMMIT');
          return result;
        } catch (error) {
          await tx.run('ROLLBACK').catch(() => undefined);
          throw error;
        }
      });
      queue = run.catch(() => undefined);
      return run;
    },
    date: sqliteDate,
    readDate: (value) => {
      const text = String(value);
      return new Date(`${text.slice(0, 10)}T${text.slice(11, 23)}Z`);
    },
  };
  return store;
}

async function openStore(url: string): Promise<Store> {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) return openMysql(new URL(url));
  throw new Error('DATABASE_URL must be sqlite:<file> or mysql://…');
}

// --- Errors ---------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

const TRPC_CODES: Record<number, [string, number]> = {
  400: ['BAD_REQUEST', -32600],
  401: ['UNAUTHORIZED', -32001],
  403: ['FORBIDDEN', -32003],
  404: ['NOT_FOUND', -32004],
  413: ['PAYLOAD_TOO_LARGE', -32022],
  415: ['UNSUPPORTED_MEDIA_TYPE', -32015],
};

// --- Sessions -------------------------------------------------------------------------------

interface User {
  id: number;
  role: 'admin' | 'doctor' | 'patient';
  username: string;
  doctorId: number | null;
  patientId: number | null;
}

const SESSION_SQL =
  'SELECT s.id, s.user_id, s.expires_at, s.created_at, u.id AS uid, u.disabled_at, u.role, u.username, ' +
  'u.email, u.doctor_id, u.patient_id FROM sessions s LEFT OUTER JOIN users u ON s.user_id = u.id WHERE s.id = ?';

/** The signed-in user of `Authorization: Bearer <token>`, as HDMS's SessionManager decides it. */
async function authenticate(store: Store, header: string | undefined): Promise<User> {
  const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : null;
  if (!token) throw new HttpError(401, 'Sign in first');
  const id = createHash('sha256').update(token).digest('hex');
  const [row] = await store.all(SESSION_SQL, [id]);
  const ended = () => new HttpError(401, 'Your session has ended; sign in again');
  if (!row) throw ended();
  const now = Date.now();
  const expiresAt = store.readDate(row.expires_at).getTime();
  const createdAt = store.readDate(row.created_at).getTime();
  if (now >= expiresAt || row.uid === null || row.disabled_at !== null || now - createdAt >= MAX_MS) {
    await store.run('DELETE FROM sessions WHERE id = ?', [id]);
    throw ended();
  }
  if (expiresAt - now < IDLE_MS - EXTEND_EVERY_MS) {
    await store.run('UPDATE sessions SET expires_at = ? WHERE id = ?', [
      store.date(new Date(now + IDLE_MS)),
      id,
    ]);
  }
  return {
    id: row.uid as number,
    role: row.role as User['role'],
    username: row.username as string,
    doctorId: (row.doctor_id as number | null) ?? null,
    patientId: (row.patient_id as number | null) ?? null,
  };
}

// --- Patients -------------------------------------------------------------------------------

const clinical = (user: User) => user.role === 'doctor' || user.role === 'patient';

const ADMISSION_COLUMNS = 'id, name, age, gender, doctor_id, room_number, bed_number, created_at, updated_at';
const columnsFor = (user: User) =>
  clinical(user) ? `${ADMISSION_COLUMNS}, diagnosis, prescribed_medicine` : ADMISSION_COLUMNS;

/** HDMS's one statement for a doctor's consents in force and open emergency accesses. */
const GRANTS_SQL = `SELECT 'consent' AS kind, id, patient_id AS patientId, expires_at AS expiresAt, NULL AS reason
       FROM consent_grants
      WHERE doctor_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
     UNION ALL
     SELECT 'emergency' AS kind, id, patient_id AS patientId, expires_at AS expiresAt, reason
       FROM emergency_accesses
      WHERE doctor_id = ? AND ended_at IS NULL AND expires_at > ?`;

/** Why a doctor reaches a patient beyond assignment: patient id → 'consent' or 'emergency'. */
type Grants = Map<number, 'consent' | 'emergency'>;

/**
 * The caller's scope as SQL: admins all, a doctor their patients and those they reach by consent or
 * emergency access (read with HDMS's statement), a patient themself; null: none.
 */
async function scopeOf(
  store: Store,
  user: User,
): Promise<{ sql: string; params: unknown[]; grants: Grants | null } | null> {
  if (user.role === 'admin') return { sql: '1 = 1', params: [], grants: null };
  if (user.role === 'doctor') {
    if (user.doctorId === null) return null;
    const now = store.date(new Date());
    const rows = await store.all(GRANTS_SQL, [user.doctorId, now, user.doctorId, now]);
    const grants: Grants = new Map();
    for (const row of rows) {
      const id = Number(row.patientId);
      if (row.kind === 'consent' || !grants.has(id))
        grants.set(id, row.kind === 'consent' ? 'consent' : 'emergency');
    }
    if (grants.size === 0) return { sql: 'doctor_id = ?', params: [user.doctorId], grants };
    const ids = [...grants.keys()];
    return {
      sql: `(doctor_id = ? OR id IN (${ids.map(() => '?').join(',')}))`,
      params: [user.doctorId, ...ids],
      grants,
    };
  }
  return user.patientId === null ? null : { sql: 'id = ?', params: [user.patientId], grants: null };
}

interface PatientView {
  id: number;
  name: string;
  age: number;
  gender: string;
  doctorId: number | null;
  roomNumber: string | null;
  bedNumber: string | null;
  createdAt: Date;
  updatedAt: Date;
  diagnosis?: string | null;
  prescribedMedicine?: string | null;
  access?: 'assigned' | 'consent' | 'emergency';
}

function view(store: Store, user: User, row: Row, grants: Grants | null): PatientView {
  const patient: PatientView = {
    id: row.id as number,
    name: row.name as string,
    age: row.age as number,
    gender: row.gender as string,
    doctorId: (row.doctor_id as number | null) ?? null,
    roomNumber: (row.room_number as string | null) ?? null,
    bedNumber: (row.bed_number as string | null) ?? null,
    createdAt: store.readDate(row.created_at),
    updatedAt: store.readDate(row.updated_at),
  };
  if (clinical(user)) {
    patient.diagnosis = (row.diagnosis as string | null) ?? null;
    patient.prescribedMedicine = (row.prescribed_medicine as string | null) ?? null;
  }
  if (grants) {
    const access =
      patient.doctorId !== null && patient.doctorId === user.doctorId ? 'assigned' : grants.get(patient.id);
    if (access) patient.access = access;
  }
  return patient;
}

interface Source {
  user: User;
  requestId: string;
  ip: string | null;
}

const AUDIT_SQL =
  'INSERT INTO audit_events (id, actor_type, actor_id, actor_name, actor_role, action, patient_id, `procedure`, request_id, ip, created_at) VALUES ';

/** One multi-row INSERT of audit rows, one per patient, as HDMS's recordAudit. */
async function audit(
  store: Store,
  db: Executor,
  source: Source,
  action: string,
  procedure: string,
  patientIds: number[],
): Promise<void> {
  const at = store.date(new Date());
  const params: unknown[] = [];
  const tuples: string[] = [];
  for (const patientId of patientIds) {
    tuples.push('(NULL,?,?,?,?,?,?,?,?,?,?)');
    params.push('user', source.user.id, source.user.username, source.user.role, action, patientId);
    params.push(procedure, source.requestId, source.ip, at);
  }
  await db.run(AUDIT_SQL + tuples.join(','), params);
}

async function listPatients(
  store: Store,
  source: Source,
  limit: number,
  cursor: number | null,
): Promise<{ items: PatientView[]; nextCursor: number | null }> {
  const scope = await scopeOf(store, source.user);
  if (!scope) return { items: [], nextCursor: null };
  const after = cursor ? ' AND id > ?' : '';
  const rows = await store.all(
    `SELECT ${columnsFor(source.user)} FROM patients WHERE ${scope.sql}${after} ORDER BY id ASC LIMIT ?`,
    [...scope.params, ...(cursor ? [cursor] : []), limit + 1],
  );
  const page = rows.slice(0, limit);
  const items = page.map((row) => view(store, source.user, row, scope.grants));
  if (items.length) {
    await audit(
      store,
      store,
      source,
      'read',
      'patients.list',
      items.map((p) => p.id),
    );
  }
  return { items, nextCursor: rows.length > limit ? (items[items.length - 1]?.id ?? null) : null };
}

async function getPatient(store: Store, source: Source, id: number): Promise<PatientView> {
  const scope = await scopeOf(store, source.user);
  const rows = scope
    ? await store.all(
        `SELECT ${columnsFor(source.user)} FROM patients WHERE (${scope.sql} AND id = ?) LIMIT 1`,
        [...scope.params, id],
      )
    : [];
  if (!rows[0]) {
    await audit(store, store, source, 'denied', 'patients.get', [id]);
    throw new HttpError(404, 'Patient not found');
  }
  const patient = view(store, source.user, rows[0], scope?.grants ?? null);
  await audit(store, store, source, 'read', 'patients.get', [patient.id]);
  return patient;
}

interface NewPatient {
  name: string;
  age: number;
  gender: string;
  doctorId: number | null;
  roomNumber: string | null;
  bedNumber: string | null;
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function lineText(value: unknown, max: number, at: string): string {
  if (typeof value !== 'string') throw new HttpError(400, `${at}: must be a string`);
  const text = value.trim();
  if (text.length < 1 || text.length > max || hasControl(text)) throw new HttpError(400, `${at}: invalid`);
  return text;
}

const isId = (value: unknown) =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 2_147_483_647;

function place(value: unknown, at: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2_147_483_647) {
    return String(value);
  }
  return lineText(value, 32, at);
}

/** Field names of a patient to admit, camelCase (tRPC) or snake_case (REST). */
const FIELDS = {
  camel: ['name', 'age', 'gender', 'doctorId', 'roomNumber', 'bedNumber'],
  snake: ['name', 'age', 'gender', 'doctor_id', 'room_number', 'bed_number'],
} as const;

/** Checks a batch as HDMS's patientsCreateInput does (1–1000 objects, strict fields, the same limits). */
function parseBatch(user: User, input: unknown, style: 'camel' | 'snake'): NewPatient[] {
  if (!Array.isArray(input) || input.length < 1 || input.length > 1000) {
    throw new HttpError(400, 'Send an array of 1 to 1000 patients');
  }
  const [name, age, gender, doctorId, roomNumber, bedNumber] = FIELDS[style];
  const allowed = new Set<string>(FIELDS[style]);
  return input.map((item: unknown, index) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new HttpError(400, `item ${index}: must be an object`);
    }
    const fields = item as Record<string, unknown>;
    for (const key in fields)
      if (!allowed.has(key)) throw new HttpError(400, `item ${index}: unknown field ${key}`);
    const years = fields[age];
    if (typeof years !== 'number' || !Number.isInteger(years) || years < 0 || years > 150) {
      throw new HttpError(400, `item ${index}: age must be a whole number 0-150`);
    }
    const requested = fields[doctorId];
    if (requested !== undefined && requested !== null && !isId(requested)) {
      throw new HttpError(400, `item ${index}: doctorId is not an id`);
    }
    return {
      name: lineText(fields[name], 200, `item ${index}: name`),
      age: years,
      gender: lineText(fields[gender], 32, `item ${index}: gender`),
      doctorId: admittingDoctorId(user, (requested as number | null | undefined) ?? null, index),
      roomNumber: place(fields[roomNumber], `item ${index}: roomNumber`),
      bedNumber: place(fields[bedNumber], `item ${index}: bedNumber`),
    };
  });
}

function admittingDoctorId(user: User, requested: number | null, index: number): number | null {
  if (user.role === 'admin') return requested;
  if (user.role !== 'doctor' || user.doctorId === null) throw new HttpError(403, 'Only admins and doctors');
  if (requested !== null && requested !== user.doctorId) {
    throw new HttpError(403, `item ${index}: doctors may only admit patients assigned to themselves`);
  }
  return user.doctorId;
}

const PATIENT_SQL =
  'INSERT INTO patients (id, name, age, gender, doctor_id, room_number, bed_number, created_at, updated_at) VALUES ';
const EVENT_SQL = 'INSERT INTO change_events (id, type, entity_id, patient_id, fields, created_at) VALUES ';

/** One transaction: the doctors exist, the patients, their audit rows, their change events. */
async function createPatients(store: Store, source: Source, patients: NewPatient[]): Promise<PatientView[]> {
  return store.transaction(async (tx) => {
    const wanted = [...new Set(patients.flatMap((p) => (p.doctorId === null ? [] : [p.doctorId])))];
    if (wanted.length) {
      const found = await tx.all(
        `SELECT id FROM doctors WHERE id IN (${wanted.map(() => '?').join(',')})`,
        wanted,
      );
      const known = new Set(found.map((row) => row.id as number));
      const index = patients.findIndex((p) => p.doctorId !== null && !known.has(p.doctorId));
      if (index >= 0) throw new HttpError(400, `item ${index}: doctorId: Doctor not found`);
    }
    const now = new Date();
    const at = store.date(now);
    const params: unknown[] = [];
    for (const p of patients)
      params.push(p.name, p.age, p.gender, p.doctorId, p.roomNumber, p.bedNumber, at, at);
    const inserted = await tx.run(
      PATIENT_SQL + patients.map(() => '(NULL,?,?,?,?,?,?,?,?)').join(','),
      params,
    );
    const first = store.dialect === 'mysql' ? inserted.lastId : inserted.lastId - patients.length + 1;
    const ids = patients.map((_, i) => first + i);
    await audit(store, tx, source, 'create', 'patients.createMany', ids);
    if (store.dialect === 'mysql') await tx.all('SELECT id FROM change_event_log WHERE id = 1 FOR UPDATE');
    const eventAt = store.date(new Date());
    const eventParams: unknown[] = [];
    for (const id of ids) eventParams.push('patient.created', id, id, null, eventAt);
    await tx.run(EVENT_SQL + ids.map(() => '(NULL,?,?,?,?,?)').join(','), eventParams);
    return patients.map((p, i) => {
      const patient: PatientView = { id: ids[i]!, ...p, createdAt: now, updatedAt: now };
      if (clinical(source.user)) {
        patient.diagnosis = null;
        patient.prescribedMedicine = null;
      }
      return patient;
    });
  });
}

// --- Answers --------------------------------------------------------------------------------

/** A superjson `serialize` of patient views by hand: dates as ISO text, their paths in `meta`. */
function superjsonPatients(patients: PatientView[], prefix: string): { json: unknown[]; dates: string[] } {
  const dates: string[] = [];
  const json = patients.map((p, i) => {
    dates.push(`${prefix}${i}.createdAt`, `${prefix}${i}.updatedAt`);
    return { ...p, createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString() };
  });
  return { json, dates };
}

function trpcData(json: unknown, dates: string[]): string {
  const meta = dates.length
    ? `,"meta":{"values":{${dates.map((d) => `${JSON.stringify(d)}:["Date"]`).join(',')}},"v":1}`
    : '';
  return `{"result":{"data":{"json":${JSON.stringify(json)}${meta}}}}`;
}

/** The tRPC input of a query (`?input=` holding `{"json": …}`). */
function trpcQueryInput(c: Context): Record<string, unknown> {
  const raw = c.req.query('input');
  let parsed: unknown;
  try {
    parsed = raw === undefined ? { json: {} } : JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'input is not JSON');
  }
  const json = (parsed as { json?: unknown } | null)?.json;
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new HttpError(400, 'Invalid input');
  return json as Record<string, unknown>;
}

function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92) i++;
      else if (ch === 34) inString = false;
    } else if (ch === 34) inString = true;
    else if (ch === 123 || ch === 91) {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (ch === 125 || ch === 93) depth--;
  }
  return deepest;
}

async function readJsonBody(c: Context, checkDepth: boolean): Promise<unknown> {
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
    throw new HttpError(415, 'Content-Type must be application/json');
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY_BYTES) throw new HttpError(413, 'Request body too large');
  if (checkDepth && jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new HttpError(400, 'Too deep');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body is not valid JSON');
  }
}

function whole(value: unknown, min: number, max: number, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${name} must be a whole number ${min}-${max}`);
  }
  return value;
}

function wholeText(
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
  name: string,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new HttpError(400, `${name} must be a whole number`);
  return whole(Number(value), min, max, name);
}

// --- The app --------------------------------------------------------------------------------

type Env = { Bindings: HttpBindings; Variables: { requestId: string } };

function createApp(store: Store): Hono<Env> {
  const app = new Hono<Env>();
  app.use(secureHeaders());
  app.use(async (c, next) => {
    const length = Number(c.req.header('content-length'));
    if (length > MAX_BODY_BYTES) return c.json({ error: 'Request body too large' }, 413);
    const requestId = randomUUID();
    c.set('requestId', requestId);
    await next();
    c.header('X-Request-Id', requestId);
    c.header('Cache-Control', 'no-store');
    c.header('Content-Security-Policy', API_CSP);
  });

  const source = async (c: Context<Env>): Promise<Source> => {
    const user = await authenticate(store, c.req.header('authorization'));
    return { user, requestId: c.get('requestId'), ip: c.env.incoming.socket.remoteAddress ?? null };
  };

  /** A tRPC procedure: its answer, or tRPC's error envelope. */
  const trpc = (handler: (c: Context<Env>) => Promise<string>) => async (c: Context<Env>) => {
    try {
      return c.body(await handler(c), 200, { 'Content-Type': 'application/json' });
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      const [code, jsonCode] = TRPC_CODES[error.status]!;
      return c.json(
        {
          error: {
            json: { message: error.message, code: jsonCode, data: { code, httpStatus: error.status } },
          },
        },
        error.status,
      );
    }
  };
  /** A REST endpoint: its answer, or `{ error }`. */
  const rest = (handler: (c: Context<Env>) => Promise<Response>) => async (c: Context<Env>) => {
    try {
      return await handler(c);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      return c.json({ error: error.message }, error.status);
    }
  };

  app.get('/healthz', async (c) => {
    try {
      await store.all('SELECT 1');
      return c.json({ status: 'ok' });
    } catch {
      return c.json({ status: 'unavailable', error: 'Database unavailable' }, 503);
    }
  });

  app.get('/_raw/statements', (c) => c.json({ statements: store.statements }));

  app.get(
    '/trpc/patients.list',
    trpc(async (c) => {
      const who = await source(c);
      const input = trpcQueryInput(c);
      const limit = input.limit === undefined ? 50 : whole(input.limit, 1, 1000, 'limit');
      const cursor =
        input.cursor === undefined || input.cursor === null
          ? null
          : whole(input.cursor, 1, 2_147_483_647, 'cursor');
      const page = await listPatients(store, who, limit, cursor);
      const { json, dates } = superjsonPatients(page.items, 'items.');
      return trpcData({ items: json, nextCursor: page.nextCursor }, dates);
    }),
  );

  app.get(
    '/trpc/patients.get',
    trpc(async (c) => {
      const who = await source(c);
      const input = trpcQueryInput(c);
      const patient = await getPatient(store, who, whole(input.id, 1, 2_147_483_647, 'id'));
      const { json, dates } = superjsonPatients([patient], '');
      return trpcData(
        json[0],
        dates.map((d) => d.slice(2)),
      );
    }),
  );

  app.post(
    '/trpc/patients.createMany',
    trpc(async (c) => {
      const who = await source(c);
      const body = (await readJsonBody(c, false)) as { json?: unknown } | null;
      const created = await createPatients(store, who, parseBatch(who.user, body?.json, 'camel'));
      const { json, dates } = superjsonPatients(created, '');
      return trpcData(json, dates);
    }),
  );

  app.get(
    '/patients',
    rest(async (c) => {
      const who = await source(c);
      const limit = wholeText(c.req.query('limit'), 100, 1, 1000, 'limit');
      const after = c.req.query('after');
      const cursor = after === undefined ? null : wholeText(after, 1, 1, Number.MAX_SAFE_INTEGER, 'after');
      const page = await listPatients(store, who, limit, cursor);
      return c.json(
        page.items.map((p) => ({
          id: p.id,
          name: p.name,
          age: p.age,
          gender: p.gender,
          doctor_id: p.doctorId,
        })),
        200,
      );
    }),
  );

  app.post(
    '/patients',
    rest(async (c) => {
      const who = await source(c);
      const body = await readJsonBody(c, true);
      if (!Array.isArray(body)) throw new HttpError(400, 'The baseline takes arrays only');
      const created = await createPatients(store, who, parseBatch(who.user, body, 'snake'));
      return c.json(
        created.map((p) => ({ id: p.id, name: p.name })),
        201,
      );
    }),
  );

  app.notFound((c) => c.json({ error: 'Not found' }, 404));
  app.onError((error, c) => {
    process.stderr.write(`raw baseline: ${error.stack ?? error}\n`);
    return c.json({ error: 'Internal server error' }, 500);
  });
  return app;
}

const store = await openStore(DATABASE_URL);
const app = createApp(store);
const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? '0'), hostname: '127.0.0.1' },
  (info) => {
    process.stdout.write(`raw baseline listening on http://127.0.0.1:${(info as AddressInfo).port}\n`);
  },
);
process.once('SIGTERM', () => {
  const http = server as typeof server & { closeAllConnections(): void };
  server.close(() => process.exit(0));
  http.closeAllConnections();
});
