import {
  checkHistoryRepo,
  type Database,
  doctorsRepo,
  notesRepo,
  type PageRequest,
  patientsRepo,
} from '@hdms/db';
import { type AccessScope, patientsReached } from '../access/scope';
import type { Actor } from '../actor';
import { checkView } from '../checkHistory/index';
import { noteView } from '../notes/index';
import { patientView, revisionView } from './views';

/** The `format` of an export document, and its version. */
export const EXPORT_FORMAT = 'hdms.patient-export';
export const EXPORT_VERSION = 1;

/** Rows read per query while an export is written. */
const PAGE_ROWS = 500;

/** Where the document's text goes, piece by piece. */
interface TextSink {
  write(text: string): Promise<void>;
}

/** Every row a keyset reader gives, oldest first, a page at a time (`read` answers `limit + 1` rows). */
async function* pages<Row extends { id: number }>(
  read: (page: PageRequest) => Promise<Row[]>,
): AsyncGenerator<Row[]> {
  let cursor = 0;
  for (;;) {
    const rows = (await read({ cursor, limit: PAGE_ROWS })).slice(0, PAGE_ROWS);
    if (rows.length === 0) return;
    yield rows;
    cursor = rows[rows.length - 1]!.id;
    if (rows.length < PAGE_ROWS) return;
  }
}

/** Writes `"key":[item,item,…]` from pages of rows, each row mapped to its view. */
async function writeArray<Row>(
  out: TextSink,
  key: string,
  source: AsyncGenerator<Row[]>,
  view: (rows: Row[]) => Promise<unknown[]> | unknown[],
  counted: (n: number) => Promise<void>,
): Promise<void> {
  await out.write(`,${JSON.stringify(key)}:[`);
  let first = true;
  for await (const rows of source) {
    const items = await view(rows);
    const text = items.map((item) => JSON.stringify(item)).join(',');
    await out.write(first ? text : `,${text}`);
    first = false;
    await counted(rows.length);
  }
  await out.write(']');
}

/**
 * Writes the full record of one patient as one JSON document, streamed a page of rows at a time:
 *
 * `{ format, version, exportedAt, patient, doctor, checkHistory, notes, revisions }`
 *
 * `patient` is the record with its clinical fields, `doctor` the assigned doctor (`id`, `name`,
 * `specialization`) or null, and the lists are oldest first, each item in the view the API gives
 * the patient's doctor and the patient (`checkHistory.list`, `notes.list`, `patients.history`).
 * `actor` must be one who reads clinical content (the caller checks it); the record is read in
 * the actor's `scope`. Returns how many rows it wrote; `progress` is told after each page.
 */
export async function writePatientExport(
  db: Database,
  actor: Actor,
  scope: AccessScope,
  patientId: number,
  out: TextSink,
  progress: (done: number, total: number) => Promise<void>,
): Promise<number> {
  const patient = await patientsRepo.read(db, patientsReached(scope), patientId, patientsRepo.ALL_COLUMNS);
  if (!patient) throw new Error(`patient ${patientId} no longer exists`);
  const doctor = patient.doctorId ? await doctorsRepo.find(db, patient.doctorId) : null;
  const total =
    (await checkHistoryRepo.countOfPatient(db, patientId)) +
    (await notesRepo.countOfPatient(db, patientId)) +
    (await patientsRepo.countRevisions(db, patientId));
  let done = 0;
  const counted = async (n: number) => {
    done += n;
    await progress(done, total);
  };

  const head = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: new Date(),
    patient: patientView(actor, patient),
    doctor: doctor ? { id: doctor.id, name: doctor.name, specialization: doctor.specialization } : null,
  };
  await out.write(JSON.stringify(head).slice(0, -1));
  await writeArray(
    out,
    'checkHistory',
    pages((page) => checkHistoryRepo.pageOfPatientById(db, patientId, page)),
    (rows) => rows.map(checkView),
    counted,
  );
  await writeArray(
    out,
    'notes',
    pages((page) => notesRepo.listOfPatient(db, patientId, page, 'asc')),
    async (rows) => {
      const correctedBy = await notesRepo.correctedBy(
        db,
        patientId,
        rows.map((n) => n.id),
      );
      return rows.map((note) => noteView(note, correctedBy.get(note.id) ?? null));
    },
    counted,
  );
  await writeArray(
    out,
    'revisions',
    pages((page) => patientsRepo.listRevisions(db, patientId, page, 'asc')),
    (rows) => rows.map((r) => revisionView(actor, r)),
    counted,
  );
  await out.write('}');
  return done;
}
