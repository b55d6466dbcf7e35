ALTER TABLE "authorization_codes" ADD COLUMN "dpop_jkt" text;--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "dpop_jkt" text;