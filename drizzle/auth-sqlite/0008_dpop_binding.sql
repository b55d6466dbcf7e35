ALTER TABLE `authorization_codes` ADD `dpop_jkt` text;--> statement-breakpoint
ALTER TABLE `refresh_tokens` ADD `dpop_jkt` text;