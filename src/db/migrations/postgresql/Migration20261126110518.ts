import { Migration } from '@mikro-orm/migrations';

export class Migration20261126110518 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "mail_outbox" ("id" uuid not null, "message_id" varchar(320) not null, "recipient" varchar(320) not null, "template" varchar(64) not null, "payload" text null, "status" varchar(16) not null, "attempts" int not null, "next_attempt_at" timestamptz not null, "claimed_until" timestamptz null, "last_error" varchar(500) null, "created_at" timestamptz not null, "sent_at" timestamptz null, "failed_at" timestamptz null, constraint "mail_outbox_pkey" primary key ("id"));`);
    this.addSql(`alter table "mail_outbox" add constraint "mail_outbox_message_id_unique" unique ("message_id");`);
    this.addSql(`create index "mail_outbox_failed_at_index" on "mail_outbox" ("failed_at");`);
    this.addSql(`create index "mail_outbox_sent_at_index" on "mail_outbox" ("sent_at");`);
    this.addSql(`create index "mail_outbox_status_next_attempt_at_index" on "mail_outbox" ("status", "next_attempt_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "mail_outbox" cascade;`);
  }

}
