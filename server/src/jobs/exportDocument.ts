import { type Database, Op } from '@hdms/db';
import type { Model, ModelStatic, WhereOptions } from 'sequelize';
import type { Actor } from '../context';
import { checkView } from '../domain/checkHistory/index';
import { noteView } from '../domain/notes/index';
import { patientView, revisionView } from '../domain/patients/views';

/** The `format` of an export document, and its version. */
export const EXPORT_FORMAT = 'hdms.patient-export';
export const EXPORT_VERSION = 1;

/** Rows read per query while an export is written. */
const PAGE_ROWS = 500;

/** Where the document's text goes, piece by piece. */
interface TextSink {
  write(text: string): Promise<void>;
}

/** Every row of `model` for the patient, oldest first, a page at a time. */
async function* pages<M extends Model & { id: number }>(
  model: ModelStatic<M>,
  patientId: number,
): AsyncGenerator<M[]> {
  let after = 0;
  for (;;) {
    const rows = await model.findAll({
      where: { patientId, id: { [Op.gt]: after } } as unknown as WhereOptions<M>,
      order: [['id', 'ASC']],
      limit: PAGE_ROWS,
    });
    if (rows.length === 0) return;
    yield rows;
    after = rows[rows.length - 1]!.id;
    if (rows.length < PAGE_ROWS) return;
  }
}

/** Writes `"key":[item,item,…]` from pages of rows, each row mapped to its view. */
async function writeArray<M extends Model & { id: number }>(
  out: TextSink,
  key: string,
  source: AsyncGenerator<M[]>,
  view: (rows: M[]) => Promise<unknown[]> | unknown[],
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
 * `actor` must be one who reads clinical content (the caller checks it). Returns how many rows it
 * wrote; `progress` is told after each page.
 */
export async function writePatientExport(
  db: Database,
  actor: Actor,
  patientId: number,
  out: TextSink,
  progress: (done: number, total: number) => Promise<void>,
): Promise<number> {
  const { CheckHistory, Doctor, Note, Patient, PatientRevision } = db.models;
  const patient = await Patient.findByPk(patientId);
  if (!patient) throw new Error(`patient ${patientId} no longer exists`);
  const doctor = patient.doctorId
    ? await Doctor.findByPk(patient.doctorId, { attributes: ['id', 'name', 'specialization'] })
    : null;
  const where = { where: { patientId } };
  const total =
    (await CheckHistory.count(where)) + (await Note.count(where)) + (await PatientRevision.count(where));
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
    pages(CheckHistory, patientId),
    (rows) => rows.map(checkView),
    counted,
  );
  await writeArray(
    out,
    'notes',
    pages(Note, patientId),
    async (rows) => {
      const corrections = await Note.findAll({
        attributes: ['id', 'correctsNoteId'],
        where: { patientId, correctsNoteId: rows.map((n) => n.id) },
      });
      const correctedBy = new Map(corrections.map((c) => [c.correctsNoteId, c.id]));
      return rows.map((note) => noteView(note, correctedBy.get(note.id) ?? null));
    },
    counted,
  );
  await writeArray(
    out,
    'revisions',
    pages(PatientRevision, patientId),
    (rows) => rows.map((r) => revisionView(actor, r)),
    counted,
  );
  await out.write('}');
  return done;
}
