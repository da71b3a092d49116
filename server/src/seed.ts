import {
  checkHistoryRepo,
  type Database,
  doctorsRepo,
  notesRepo,
  type PatientColumn,
  patientsRepo,
  type Role,
  usersRepo,
} from '@hdms/db';
import { findAccount, SessionManager } from './auth/index';
import { CommandError, type CommandSpec, commandSource, exitWith, runCommand, withDatabase } from './cli';
import { loadScope } from './domain/access/scope';
import type { UserActor } from './domain/actor';
import { recordChecks } from './domain/checkHistory/index';
import { createDoctors } from './domain/doctors/index';
import { createNote } from './domain/notes/index';
import { createPatients } from './domain/patients/create';
import { updatePatient } from './domain/patients/update';
import { createUser, linkUser } from './domain/users/commands';
import type { Config } from './env';

/**
 * `npm run db:seed`: demo data for a newcomer, through the domain's commands (audited as the
 * command line or as the demo doctors, like any write): two doctors, five patients with room and
 * bed, diagnosis and medicine, check-ups and notes, and three accounts linked to their records,
 * whose sign-ins it prints. Its rows are recognised by their names (every demo record's name ends
 * in " (demo)", every demo account's username starts with "demo."), so that it
 * - refuses NODE_ENV=production, and any database holding a doctor or patient it did not create;
 * - is safe to run again: what is in place is left alone (a second run changes nothing and prints
 *   the sign-ins again), and a run cut short is completed.
 */

const SPEC: CommandSpec = {
  invocation: 'npm run db:seed',
  args: '',
  arity: { min: 0, max: 0 },
  options: {},
  help: [
    'Fills the database of DATABASE_URL with demo data: 2 doctors, 5 patients (room, bed, diagnosis,',
    "medicine), their check-ups and notes, and 3 accounts linked to them, then prints a doctor's and",
    'a patient\'s sign-in. Demo names end in "(demo)"; demo usernames start with "demo.".',
    'Refused when NODE_ENV=production, and on a database that holds doctors or patients it did not',
    'create. Running it again changes nothing and prints the sign-ins again.',
  ].join('\n'),
};

/** A demo doctor of the register. */
interface DemoDoctor {
  key: string;
  name: string;
  specialization: string;
}

/** A demo patient, admitted by their doctor, with the doctor's check-ups and notes. */
interface DemoPatient {
  name: string;
  age: number;
  gender: string;
  doctor: string;
  roomNumber: string;
  bedNumber: string;
  diagnosis: string;
  prescribedMedicine: string;
  /** Check-ups, in days before the seed ran. */
  checkupDaysAgo: number[];
  notes: string[];
}

/** A demo account, linked to its record. Its password passes the password policy. */
interface DemoAccount {
  username: string;
  email: string;
  role: Exclude<Role, 'admin'>;
  /** The doctor's key, or the patient's name, it is linked to. */
  record: string;
  password: string;
}

const DOCTORS: DemoDoctor[] = [
  { key: 'okafor', name: 'Dr. Amara Okafor (demo)', specialization: 'Cardiology' },
  { key: 'brandt', name: 'Dr. Lukas Brandt (demo)', specialization: 'Internal medicine' },
];

const PATIENTS: DemoPatient[] = [
  {
    name: 'Elena Marsh (demo)',
    age: 67,
    gender: 'female',
    doctor: 'okafor',
    roomNumber: '204',
    bedNumber: 'A',
    diagnosis: 'Atrial fibrillation',
    prescribedMedicine: 'Apixaban 5 mg twice daily',
    checkupDaysAgo: [14, 3],
    notes: [
      'Admitted with palpitations; ECG confirms atrial fibrillation. Anticoagulation started.',
      'Rate controlled, no palpitations since yesterday. Plan: discharge after one more day of monitoring.',
    ],
  },
  {
    name: 'Tomas Reyes (demo)',
    age: 54,
    gender: 'male',
    doctor: 'okafor',
    roomNumber: '204',
    bedNumber: 'B',
    diagnosis: 'Stable angina',
    prescribedMedicine: 'Bisoprolol 5 mg daily; glyceryl trinitrate spray as needed',
    checkupDaysAgo: [7],
    notes: ['Chest pain on exertion, none at rest. Stress test booked.'],
  },
  {
    name: 'Sofia Lindqvist (demo)',
    age: 29,
    gender: 'female',
    doctor: 'okafor',
    roomNumber: '206',
    bedNumber: 'A',
    diagnosis: 'Myocarditis, recovering',
    prescribedMedicine: 'Ibuprofen 400 mg three times daily for two weeks',
    checkupDaysAgo: [10, 5, 1],
    notes: ['Troponin falling. Rest from sport for three months.'],
  },
  {
    name: 'Priya Natarajan (demo)',
    age: 41,
    gender: 'female',
    doctor: 'brandt',
    roomNumber: '310',
    bedNumber: 'A',
    diagnosis: 'Type 2 diabetes, newly diagnosed',
    prescribedMedicine: 'Metformin 500 mg twice daily',
    checkupDaysAgo: [2],
    notes: ['HbA1c 8.1 %. Diet advice given; review in three months.'],
  },
  {
    name: 'Jonah Whitfield (demo)',
    age: 73,
    gender: 'male',
    doctor: 'brandt',
    roomNumber: '311',
    bedNumber: 'B',
    diagnosis: 'Community-acquired pneumonia',
    prescribedMedicine: 'Amoxicillin 1 g three times daily for five days',
    checkupDaysAgo: [4, 2],
    notes: ['Right lower lobe consolidation on X-ray. Oxygen saturation 94 % on room air.'],
  },
];

const ACCOUNTS: DemoAccount[] = [
  {
    username: 'demo.okafor',
    email: 'okafor@demo.hdms.local',
    role: 'doctor',
    record: 'okafor',
    password: 'violet-harbor-stethoscope',
  },
  {
    username: 'demo.brandt',
    email: 'brandt@demo.hdms.local',
    role: 'doctor',
    record: 'brandt',
    password: 'copper-lantern-clipboard',
  },
  {
    username: 'demo.marsh',
    email: 'marsh@demo.hdms.local',
    role: 'patient',
    record: 'Elena Marsh (demo)',
    password: 'quiet-meadow-teapot',
  },
];

/** The accounts whose sign-ins are printed: a doctor's and a patient's. */
const SHOWN = ['demo.okafor', 'demo.marsh'];

/** The patient columns the seed reads. */
const PATIENT_COLUMNS: PatientColumn[] = ['id', 'name', 'doctorId', 'diagnosis'];

const audited = (db: Database) => commandSource(db, 'db:seed');

/**
 * The demo doctors and patients in place, by key and name; a `CommandError` when the database
 * holds a doctor or patient that is not one of them (or a second one of the same name).
 */
async function demoRecordsInPlace(db: Database) {
  const doctors = await doctorsRepo.list(db, { limit: DOCTORS.length + 1 });
  const patients = await patientsRepo.list(db, 'all', { limit: PATIENTS.length + 1 }, {}, PATIENT_COLUMNS);
  const doctorIds = new Map<string, number>();
  const foreign: string[] = [];
  for (const row of doctors) {
    const demo = DOCTORS.find((d) => d.name === row.name && d.specialization === row.specialization);
    if (demo && !doctorIds.has(demo.key)) doctorIds.set(demo.key, row.id);
    else foreign.push(`doctor ${row.id}`);
  }
  const demoDoctorIds = new Set(doctorIds.values());
  const patientRows = new Map<string, (typeof patients)[number]>();
  for (const row of patients) {
    const demo = PATIENTS.find((p) => p.name === row.name);
    if (demo && !patientRows.has(demo.name) && row.doctorId !== null && demoDoctorIds.has(row.doctorId)) {
      patientRows.set(demo.name, row);
    } else foreign.push(`patient ${row.id}`);
  }
  if (foreign.length) {
    throw new CommandError(
      `db:seed only fills an empty database (or completes its own demo data), and this one holds doctors or patients it did not create (${foreign.join(', ')}): nothing was changed.`,
    );
  }
  return { doctorIds, patientRows };
}

/** The actor of demo doctor account `username` (linked to its doctor record), as the domain sees it. */
async function doctorActor(db: Database, username: string): Promise<UserActor<'doctor'>> {
  const account = await findAccount(db, username);
  const profile = account ? await usersRepo.findProfile(db, account.id) : null;
  if (profile?.role !== 'doctor' || profile.doctorId === null) {
    throw new CommandError(`The demo account "${username}" is not a doctor linked to its record.`);
  }
  return { type: 'user', ...profile, role: 'doctor', sessionToken: '' };
}

/** Ensures demo account `demo` exists and is linked to `recordId`; whether it wrote anything. */
async function ensureAccount(
  db: Database,
  config: Config,
  demo: DemoAccount,
  recordId: number,
): Promise<boolean> {
  let changed = false;
  let account = await findAccount(db, demo.username);
  if (!account) {
    const { username, email, role, password } = demo;
    await createUser(audited(db), { username, email, role, password });
    account = await findAccount(db, demo.username);
    changed = true;
  }
  if (!account || account.role !== demo.role) {
    throw new CommandError(
      `The username "${demo.username}" belongs to a ${account?.role ?? 'missing'} account, not a demo ${demo.role}: nothing more was changed.`,
    );
  }
  const linked = demo.role === 'doctor' ? account.doctorId : account.patientId;
  if (linked !== recordId) {
    const sessions = new SessionManager(db, {
      idleMinutes: config.sessionIdleMinutes,
      maxHours: config.sessionMaxHours,
      secureCookie: config.production,
    });
    await linkUser(
      { ...audited(db), sessions },
      demo.role === 'doctor'
        ? { userId: account.id, doctorId: recordId }
        : { userId: account.id, patientId: recordId },
    );
    changed = true;
  }
  return changed;
}

/** Puts every missing piece of the demo data in place; whether anything was written. */
async function seed(db: Database, config: Config): Promise<boolean> {
  let changed = false;
  const before = await demoRecordsInPlace(db);
  const missingDoctors = DOCTORS.filter((d) => !before.doctorIds.has(d.key));
  if (missingDoctors.length) {
    await createDoctors(
      audited(db),
      missingDoctors.map(({ name, specialization }) => ({ name, specialization })),
    );
    changed = true;
  }
  const { doctorIds } = await demoRecordsInPlace(db);
  for (const demo of ACCOUNTS.filter((a) => a.role === 'doctor')) {
    changed = (await ensureAccount(db, config, demo, doctorIds.get(demo.record)!)) || changed;
  }

  // Each doctor admits their own patients and writes their clinical record, check-ups and notes.
  for (const doctor of DOCTORS) {
    const username = ACCOUNTS.find((a) => a.role === 'doctor' && a.record === doctor.key)!.username;
    const actor = await doctorActor(db, username);
    const ctx = {
      ...audited(db),
      actor,
      scope: await loadScope(db, actor),
    };
    const theirs = PATIENTS.filter((p) => p.doctor === doctor.key);
    const { patientRows } = await demoRecordsInPlace(db);
    const toAdmit = theirs.filter((p) => !patientRows.has(p.name));
    if (toAdmit.length) {
      await createPatients(
        ctx,
        toAdmit.map(({ name, age, gender, roomNumber, bedNumber }) => ({
          name,
          age,
          gender,
          roomNumber,
          bedNumber,
        })),
        true,
      );
      changed = true;
    }
    const admitted = (await demoRecordsInPlace(db)).patientRows;
    for (const demo of theirs) {
      const row = admitted.get(demo.name)!;
      if (row.diagnosis === null) {
        const { diagnosis, prescribedMedicine } = demo;
        await updatePatient(ctx, row.id, { diagnosis, prescribedMedicine });
        changed = true;
      }
      if ((await checkHistoryRepo.countOfPatient(db, row.id)) === 0) {
        const day = 24 * 3_600_000;
        const items = demo.checkupDaysAgo.map((days) => ({
          patientId: row.id,
          checkTime: new Date(Math.floor((Date.now() - days * day) / 60_000) * 60_000),
        }));
        await recordChecks(ctx, items, true);
        changed = true;
      }
      if ((await notesRepo.countOfPatient(db, row.id)) === 0) {
        for (const body of demo.notes) await createNote(ctx, { patientId: row.id, body });
        changed = true;
      }
    }
  }

  const { patientRows } = await demoRecordsInPlace(db);
  for (const demo of ACCOUNTS.filter((a) => a.role === 'patient')) {
    changed = (await ensureAccount(db, config, demo, patientRows.get(demo.record)!.id)) || changed;
  }
  return changed;
}

/** The sign-ins to print, with the line that says what the seed did. */
function report(changed: boolean): string {
  const shown = SHOWN.map((username) => ACCOUNTS.find((a) => a.username === username)!);
  const width = Math.max(...shown.map((a) => a.username.length));
  return [
    changed
      ? `Seeded the demo data: ${DOCTORS.length} doctors, ${PATIENTS.length} patients with their check-ups and notes, ${ACCOUNTS.length} accounts.`
      : 'Already seeded: the demo data is in place; nothing was changed.',
    'Sign in as (demo passwords, printed on every run: never use db:seed in production):',
    ...shown.map(
      (a) =>
        `  ${a.role.padEnd(7)}  username: ${a.username.padEnd(width)}  password: ${a.password}   (${a.role === 'doctor' ? DOCTORS.find((d) => d.key === a.record)!.name : a.record})`,
    ),
  ].join('\n');
}

exitWith(
  runCommand(SPEC, process.argv.slice(2), async (_line, loadConfig) => {
    const config = loadConfig();
    if (config.production) {
      throw new CommandError(
        'db:seed is refused when NODE_ENV=production: demo accounts with published passwords do not belong there. Nothing was changed.',
      );
    }
    return report(await withDatabase(config, (db) => seed(db, config)));
  }),
);
