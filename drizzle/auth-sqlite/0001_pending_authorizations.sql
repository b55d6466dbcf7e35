CREATE TABLE `pending_authorizations` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`request` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pending_exp_idx` ON `pending_authorizations` (`expires_at`);