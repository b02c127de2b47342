"""The words behind the demo data: product areas, granular problems, and how people phrase them.

Pure data, read by ``tickets.demo``. Each problem is one specific user problem (the granularity the
theming engine must find), said in several ways. Templates use ``{slot}`` fillers that the generator
fills per ticket (the same value within one ticket, so an agent's reply names the customer's country).

The fictional vendor is "Orbit", a B2B SaaS; every address and domain it uses is under ``.example``
(RFC 2606) so demo data can never reach a real mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass

PRODUCT = "Orbit"
SUPPORT_ADDRESS = "support@orbit.example"
HELP_DESK_URL = "https://help.orbit.example/tickets/"


@dataclass(frozen=True, slots=True)
class DemoArea:
    key: str
    name: str
    tags: tuple[str, ...]  # what agents type: coarse, inconsistently cased, sometimes a synonym
    form_topic: str  # the web form's "Topic" choice a customer would pick
    asks: tuple[str, ...]  # an agent's clarifying questions


@dataclass(frozen=True, slots=True)
class DemoProblem:
    """One granular problem. ``weight`` is its relative popularity; ``hours`` its median resolution."""

    key: str
    area: str
    title: str
    weight: float
    subjects: tuple[str, ...]
    says: tuple[str, ...]
    fixes: tuple[str, ...]
    details: tuple[str, ...] = ()
    hours: float = 24.0
    csat: float = 4.0
    reopen: float = 0.05
    plans: str = "any"  # which plans raise it: any, paid (not free), business (pro and enterprise)


AREAS: tuple[DemoArea, ...] = (
    DemoArea(
        "billing", "Billing & payments",
        ("billing", "Billing", "payment", "payments", "invoice", "Billing Issue"), "Billing",
        ("Could you send me the invoice number so I can take a look?",
         "Which card or payment method were you using?",
         "Could you confirm the email address on the account?"),
    ),
    DemoArea(
        "account", "Account & login",
        ("login", "Login", "account", "access", "auth"), "Account & login",
        ("Which browser are you signing in with?",
         "Could you confirm the email address you use to sign in?",
         "Are you signing in with SSO or with a password?"),
    ),
    DemoArea(
        "integrations", "Integrations",
        ("integration", "Integrations", "API", "3rd-party"), "Integrations",
        ("Which integration is this about, and roughly when did it start?",
         "Could you send me the ID of one affected record?",
         "Could you try disconnecting and reconnecting the integration?"),
    ),
    DemoArea(
        "reporting", "Reporting & exports",
        ("reports", "reporting", "export", "Reports"), "Reports",
        ("Which report is this, and what date range did you pick?",
         "Could you share a screenshot of the report settings?"),
    ),
    DemoArea(
        "mobile", "Mobile app",
        ("mobile", "Mobile", "ios", "android", "app"), "Mobile app",
        ("Which phone and app version are you on? You'll find the version under Settings > About.",
         "Does it happen on Wi-Fi and on mobile data?"),
    ),
    DemoArea(
        "notifications", "Notifications",
        ("notifications", "Notifications", "email", "alerts"), "Notifications",
        ("Which notifications are affected: email, Slack or push?",
         "Could you check Profile > Notifications and send me a screenshot?"),
    ),
)

# Tags agents add regardless of the topic.
GENERIC_TAGS = ("urgent", "vip", "follow_up", "bug", "question", "feature_request", "escalated", "tier2")

_BILLING: tuple[DemoProblem, ...] = (
    DemoProblem(
        "card_declined_abroad", "billing", "Card declined when paying from abroad", 9,
        ("Card declined", "Payment failed", "Can't pay my invoice", "payment not going through"),
        ("My {card} keeps getting declined when I try to pay. I'm travelling in {country} at the moment.",
         "We tried to renew our subscription with our {card} but the payment fails every time. The card "
         "works everywhere else. Our finance team is based in {country}, could that be the problem?",
         "Payment declined again. The bank says they didn't even see the charge attempt. I'm paying from "
         "{country}.",
         "I get 'Your card was declined' on the checkout page. It's a {card} issued in {country} and has "
         "plenty of balance.",
         "Trying to upgrade to {plan_target} but the card is rejected {since}. Is there a problem with "
         "foreign cards?",
         "the payment page just says declined. tried two different cards from my bank in {country}"),
        ("Our payment provider flagged the charge because the card country didn't match your billing "
         "address. I've added an exception, could you try again?",
         "Some banks in {country} require 3-D Secure for payments abroad. I've switched your account to "
         "the 3-D Secure checkout; please try once more and approve the payment in your banking app."),
        ("It's a {card} ending in {last4}.", "My bank confirmed there is no block on the card.",
         "The card number is 4000 0000 0000 0002 if that helps.", "It's a company card from {country}."),
        hours=20, csat=3.9,
    ),
    DemoProblem(
        "charged_twice", "billing", "Charged twice for one subscription", 5,
        ("Double charge", "Charged twice!", "Duplicate payment on our card", "Two charges this month"),
        ("We were charged twice for our subscription this month: two charges of {amount} on the same day.",
         "I see two identical payments of {amount} on my credit card statement for {month}. Please refund "
         "one of them.",
         "Why did you bill us twice? Our card shows {amount} taken on the 1st and again on the 2nd.",
         "There is a duplicate charge on our account. We only have one workspace.",
         "looks like the renewal went through twice, {amount} x2"),
        ("You're right, the renewal ran twice because of a retry on our side. I've refunded the second "
         "charge of {amount}; it will show on your statement within 5-10 business days.",),
        ("Both charges show the reference {invoice}.", "I've attached a screenshot of the card statement."),
        hours=30, csat=3.6, plans="paid",
    ),
    DemoProblem(
        "invoice_wrong_vat", "billing", "Invoice shows the wrong VAT number", 3,
        ("Wrong VAT number on invoice", "Invoice correction needed", "VAT ID missing",
         "Please reissue invoice {invoice}"),
        ("Our invoice {invoice} shows the wrong VAT number. Our VAT ID is {vat}. Can you reissue it?",
         "The VAT number on our invoices is incorrect, so our accountant can't book them. Please correct "
         "it to {vat}.",
         "We updated our tax ID in the billing settings but the new invoice still has the old VAT number "
         "on it.",
         "The invoice is missing our VAT registration number {vat}, and we were charged VAT even though "
         "it should be reverse charge.",
         "our accounting dept needs the invoices with the correct VAT ID, the current one is from our old "
         "entity"),
        ("I've corrected the VAT number to {vat} and reissued invoice {invoice}. You'll find the new PDF "
         "under Settings > Billing.",),
        ("The correct company name is {company} and the VAT ID is {vat}.",
         "We need every invoice since {month} corrected."),
        hours=40, csat=4.0, plans="paid",
    ),
    DemoProblem(
        "refund_not_received", "billing", "Refund not received", 2.5,
        ("Where is my refund?", "Refund still missing", "Refund status", "Still waiting for money back"),
        ("You promised a refund of {amount} two weeks ago and it still hasn't arrived.",
         "Could you tell me the status of my refund? It's been {n} business days.",
         "We cancelled in {month} and were told we'd get {amount} back, but nothing has come through.",
         "Still no refund on my card. Your colleague said 5-10 days, it has been longer than that."),
        ("I checked with our payments team: the refund of {amount} was sent on the {day}th. Here's the "
         "reference your bank can trace it with: ARN {arn}.",),
        ("The refund was for invoice {invoice}.", "My bank says there is no incoming refund."),
        hours=60, csat=3.3, plans="paid",
    ),
    DemoProblem(
        "invoice_download_hidden", "billing", "Can't find where to download invoices", 6,
        ("Where are invoices?", "Download invoice", "Need invoice for {month}", "invoice pdf"),
        ("Where can I download our invoices? I need the one for {month} for our accountant.",
         "I can't find the invoices anywhere in the app. Could you send me the PDF for {month}?",
         "How do I get a copy of past invoices? The billing page only shows the current plan.",
         "Our finance team needs all invoices from this year, is there a way to download them in one go?",
         "need the invoice for last month pls"),
        ("You'll find all invoices under Settings > Billing > Invoice history; each one has a PDF button. "
         "I've also attached the {month} invoice here.",),
        ("I'm the account owner, so I should have access.",),
        hours=3, csat=4.6, plans="paid",
    ),
    DemoProblem(
        "billing_email_outdated", "billing", "Invoices go to an outdated billing email", 2,
        ("Change billing email", "Invoices going to the wrong person", "Update billing contact"),
        ("Our invoices still go to {old_email}, who left the company. Please send them to me instead.",
         "How can I change the email address that receives invoices? It's still set to our old office "
         "manager.",
         "We never got the invoice for {month}; turns out it went to {old_email}. Can you update the "
         "billing contact?",
         "please update our billing email, the current one bounces"),
        ("Done: invoices will now go to {email}. You can change the billing contact yourself under "
         "Settings > Billing > Billing contact.",),
        hours=8, csat=4.4, plans="paid",
    ),
    DemoProblem(
        "seat_count_mismatch", "billing", "Billed for more seats than active users", 3,
        ("Wrong number of seats", "We're paying for too many users", "Seat count question",
         "Invoice too high"),
        ("Our invoice charges us for {seats} seats but we only have {seats_low} active users.",
         "We removed several users last month but the bill didn't go down. Why are we still paying for "
         "{seats} seats?",
         "The seat count on our plan doesn't match the number of people in the workspace. Deactivated "
         "users seem to be counted.",
         "invoice says {seats} users, we have way less than that"),
        ("Deactivated users kept their seat until the end of the billing period. I've reduced your plan to "
         "{seats_low} seats and credited the difference to your next invoice.",),
        ("I deactivated {n} accounts when people left.",),
        hours=48, csat=3.5, plans="paid",
    ),
)

_ACCOUNT: tuple[DemoProblem, ...] = (
    DemoProblem(
        "sso_login_loop", "account", "SSO login loops back to the login page", 7,
        ("SSO not working", "Login loop with {idp}", "Can't log in via SSO", "URGENT: nobody can sign in"),
        ("When I sign in with {idp} I'm sent straight back to the login page. It just loops.",
         "SSO login is broken for our team. After authenticating with {idp} we land on the login screen "
         "again, over and over.",
         "Since {since_short}, none of our users can sign in through SSO. {idp} shows success but your app "
         "redirects back to the sign-in page.",
         "Single sign-on keeps redirecting me in a circle between {idp} and your login page.",
         "sso loop again. clicked 'sign in with {idp}', it goes back to the login page"),
        ("The certificate in your SAML configuration had expired, so we rejected the response and sent you "
         "back to the login page. I've updated it with the new one from {idp}; could you try again?",
         "We found a bug in how we handle the RelayState from {idp}; a fix is out now. Please clear your "
         "cookies and try again."),
        ("It happens in {browser} and in an incognito window.",
         "Password login still works for the admin account.",
         "Our {idp} admin says the SAML assertion is sent correctly."),
        hours=70, csat=3.0, reopen=0.2, plans="business",
    ),
    DemoProblem(
        "password_reset_email_missing", "account", "Password reset email never arrives", 12,
        ("Password reset", "Reset email not arriving", "Can't reset password", "forgot password"),
        ("I requested a password reset three times but the email never arrives.",
         "I forgot my password and the reset link doesn't come through. I've checked spam.",
         "Your password reset email isn't reaching me. My address is {email}.",
         "No reset email. Tried {n} times now",
         "I can't log in and the 'Forgot password' email never shows up in my inbox."),
        ("Your address was on our email provider's suppression list after a bounce. I've removed it and "
         "sent a fresh reset link; it should arrive in a minute.",),
        ("We use Microsoft 365 for email.", "Other emails from you do arrive."),
        hours=6, csat=4.1,
    ),
    DemoProblem(
        "two_factor_codes_rejected", "account", "Two-factor codes rejected as invalid", 4,
        ("2FA not working", "Authenticator code invalid", "Two-factor problem", "Locked out by 2FA"),
        ("My authenticator app codes are always rejected as invalid.",
         "Two-factor authentication keeps saying 'invalid code' even though I type it in straight away.",
         "I got a new phone and now the 2FA codes don't work anymore.",
         "The 6-digit code from Google Authenticator isn't accepted. I'm locked out.",
         "2fa code invalid every time, help"),
        ("I've reset two-factor authentication on your account after verifying your identity. Next time "
         "you sign in you'll be asked to set it up again; please keep the backup codes somewhere safe.",),
        ("The time on my phone is set automatically.", "I don't have the backup codes anymore."),
        hours=10, csat=3.9,
    ),
    DemoProblem(
        "account_locked", "account", "Account locked after failed sign-in attempts", 3,
        ("Account locked", "Locked out", "Please unlock my account"),
        ("My account is locked after too many failed attempts. Please unlock it.",
         "It says my account is temporarily locked. I need access for a client meeting {when}.",
         "Locked out of my account. I think I typed an old password a few times.",
         "account locked, can you unlock {email}"),
        ("I've unlocked your account. The lock also lifts by itself after 30 minutes, in case it happens "
         "again.",),
        hours=2, csat=4.3,
    ),
    DemoProblem(
        "transfer_ownership", "account", "Transfer account ownership to a colleague", 2.5,
        ("Change account owner", "Transfer ownership", "Owner left the company"),
        ("Our account owner {colleague} left the company. How do we transfer ownership to me?",
         "I need to make {colleague} the owner of our workspace and step down to a normal admin.",
         "The person who set up our account no longer works here and we can't change billing without "
         "them.",
         "how do I transfer the account to my colleague?"),
        ("I've transferred ownership to you after confirming with your billing contact. You can now "
         "manage billing and admins under Settings > Workspace.",),
        hours=24, csat=4.4,
    ),
    DemoProblem(
        "delete_account_gdpr", "account", "Delete account and personal data", 2,
        ("Delete my account", "GDPR deletion request", "Remove my data"),
        ("Please delete my account and all personal data you hold about me (GDPR Art. 17).",
         "We are leaving and want all our data deleted. How do we do that?",
         "I'd like to close my account. There is no delete button anywhere.",
         "Under GDPR I request the erasure of my personal data."),
        ("Your account and personal data have been deleted; backups are purged within 30 days. Sorry to "
         "see you go!",),
        hours=36, csat=4.2,
    ),
    DemoProblem(
        "invite_link_expired", "account", "Team invitation links expired or invalid", 5,
        ("Invite not working", "Invitation link expired", "Can't join my team"),
        ("My colleague sent me an invite but the link says it has expired.",
         "New team members can't accept their invitations: the page says 'invalid or expired link'.",
         "I invited {n} people this morning and none of them can join. The invite link is broken.",
         "Clicking the invitation email just shows an error."),
        ("Invitations expired too early because of a timezone bug on our side. I've re-sent them; they're "
         "valid for 7 days now.",),
        ("The invites were sent less than an hour ago.",),
        hours=12, csat=4.0,
    ),
)

_INTEGRATIONS: tuple[DemoProblem, ...] = (
    DemoProblem(
        "salesforce_custom_fields", "integrations", "Salesforce sync skips custom fields", 3,
        ("Salesforce sync issue", "Custom fields not syncing", "Salesforce integration missing data"),
        ("Our Salesforce sync doesn't bring over custom fields. Standard fields like name and email are "
         "fine.",
         "The custom field '{sf_field}' is empty in your app even though it's filled in Salesforce.",
         "Since {since_short} the Salesforce integration ignores all our custom fields.",
         "salesforce sync only maps default fields, our custom ones are missing"),
        ("Custom fields are only synced once they're mapped under Settings > Integrations > Salesforce > "
         "Field mapping. I've mapped '{sf_field}' for you and started a full re-sync.",),
        hours=110, csat=3.2, plans="business",
    ),
    DemoProblem(
        "zapier_disconnects", "integrations", "Zapier connection keeps disconnecting", 8,
        ("Zapier disconnected", "Zap stopped working", "Zapier auth error"),
        ("Our Zapier connection disconnects every few days and all our zaps stop.",
         "Zapier says 'authentication expired' for your app again. We reconnected it last week.",
         "The zap that creates records from {zap_source} stopped running; the connection shows as "
         "disconnected.",
         "zapier keeps losing the connection, we have to reconnect constantly",
         "Every Monday we find our Zapier integration logged out."),
        ("Zapier tokens were expiring after 7 days instead of being refreshed. We've shipped a fix; please "
         "reconnect once more and it will stay connected.",),
        hours=30, csat=3.4, reopen=0.15,
    ),
    DemoProblem(
        "calendar_duplicates", "integrations", "Google Calendar sync creates duplicate events", 3,
        ("Duplicate calendar events", "Google Calendar sync", "Calendar full of duplicates"),
        ("Every event shows up two or three times in Google Calendar since we turned on the sync.",
         "The calendar integration creates duplicate events for every booking.",
         "Our shared Google Calendar is full of copies of the same appointment.",
         "calendar sync duplicating everything"),
        ("The duplicates came from having the sync connected twice (once per admin). I've removed the "
         "second connection and cleaned up the duplicate events.",),
        hours=80, csat=3.4,
    ),
    DemoProblem(
        "api_rate_limit", "integrations", "API rate limit hit far below the documented limit", 2.5,
        ("API 429 errors", "Rate limit question", "Too many requests error"),
        ("We're getting HTTP 429 Too Many Requests from your API at far fewer than {api_limit} requests "
         "per minute.",
         "Our nightly import fails with 429 errors. The docs say the limit is {api_limit}/min, we're "
         "sending maybe half that.",
         "Is there a way to raise our API rate limit? We keep getting throttled.",
         "api returning 429 for our integration since {since_short}"),
        ("Your requests were counted against a shared limit per IP address. I've moved your workspace to "
         "the per-token limit of {api_limit}/min, which should stop the 429s.",),
        ("Here's a request ID from one of the failures: req_{hex}.",),
        hours=50, csat=3.6, plans="business",
    ),
    DemoProblem(
        "webhook_not_delivered", "integrations", "Webhooks not delivered", 3,
        ("Webhooks not firing", "Webhook problem", "No webhook events received"),
        ("Our webhook endpoint hasn't received any events since {since_short}, though the app shows "
         "activity.",
         "Webhooks stopped firing. Our endpoint returns 200 and works fine with other services.",
         "We're missing webhook deliveries: maybe one in five events arrives.",
         "webhooks not being sent to our url anymore"),
        ("Your endpoint was disabled automatically after a run of timeouts last week. I've re-enabled it; "
         "you can see every delivery attempt under Settings > Webhooks > Logs.",),
        hours=60, csat=3.3,
    ),
    DemoProblem(
        "hubspot_contacts", "integrations", "HubSpot contacts not syncing", 3,
        ("HubSpot sync", "Contacts missing from HubSpot", "HubSpot integration not updating"),
        ("New contacts don't appear in HubSpot anymore. The last one synced on {month} {day}.",
         "The HubSpot integration says 'connected' but no contacts have synced for days.",
         "Contacts created in your app are not pushed to HubSpot.",
         "hubspot sync stopped, contacts not coming through"),
        ("HubSpot rejected the sync because a required property was missing. I've updated the mapping and "
         "re-queued the {n} contacts that failed.",),
        hours=40, csat=3.7, plans="paid",
    ),
)

_REPORTING: tuple[DemoProblem, ...] = (
    DemoProblem(
        "csv_export_truncated", "reporting", "CSV export cuts off at 10,000 rows", 8,
        ("Export incomplete", "CSV export missing rows", "Export limit?", "Not all data in export"),
        ("When I export to CSV the file stops at exactly 10,000 rows. We have about {big_n} records.",
         "The CSV export is cut off: only the first 10000 lines are there.",
         "Is there a limit on exports? Our file always has 10k rows and the rest is missing.",
         "Exporting the full {report} gives me an incomplete file. It ends at row 10,000.",
         "csv export truncated at 10k rows!!"),
        ("Exports above 10,000 rows are now built in the background: you'll get an email with a download "
         "link when the file is ready. This went live today.",
         "That's a limitation of the direct download. As a workaround, please use the API export or split "
         "by date range; our engineers are working on lifting the limit."),
        ("We need the full export for our quarterly audit.", "It's the same in Chrome and Firefox."),
        hours=150, csat=2.8, reopen=0.1,
    ),
    DemoProblem(
        "report_timezone", "reporting", "Reports use the wrong timezone", 4,
        ("Report numbers off", "Wrong dates in report", "Timezone in reports"),
        ("The {report} shows numbers shifted by one day. I think it uses UTC instead of {tz}.",
         "Our daily totals in reports don't match what we see in the app: everything after {hour} lands on "
         "the next day.",
         "Reports are using the wrong timezone. My workspace is set to {tz}.",
         "numbers in the {report} don't match, looks like a timezone issue"),
        ("Reports were using the account owner's timezone rather than the workspace's. I've switched your "
         "workspace reports to {tz}.",),
        hours=45, csat=3.6,
    ),
    DemoProblem(
        "pdf_export_blank", "reporting", "PDF export is blank or missing charts", 3,
        ("PDF export broken", "Blank PDF", "Charts missing in PDF"),
        ("When I download the {report} as PDF the charts are missing, just empty boxes.",
         "The PDF export gives me a blank page.",
         "Exported PDFs have the tables but none of the graphs.",
         "pdf export blank again. need it for the board meeting {when}"),
        ("Charts failed to render when the report used a custom colour theme. We've fixed this; please try "
         "the export again.",),
        hours=60, csat=3.4,
    ),
    DemoProblem(
        "dashboard_slow", "reporting", "Dashboard takes very long to load", 5,
        ("Dashboard slow", "Very slow loading", "Performance issue", "Dashboard timing out"),
        ("The dashboard takes more than a minute to load, sometimes it times out completely.",
         "Everything is really slow today, especially the main dashboard.",
         "Our team dashboard has become painfully slow since we added more widgets.",
         "dashboard wont load, spinner forever",
         "Loading the {report} dashboard takes ages. Is there an outage?"),
        ("Your dashboard had several widgets querying the full history. I've set them to the last 90 days, "
         "which brings loading down to a few seconds. We're also making this faster on our side.",),
        hours=90, csat=3.1,
    ),
    DemoProblem(
        "scheduled_report_missing", "reporting", "Scheduled report emails not sent", 2.5,
        ("Scheduled report not received", "Weekly report missing", "Report email didn't arrive"),
        ("Our scheduled {report} didn't arrive this {weekday}.",
         "The weekly report that should be emailed every Monday has stopped coming.",
         "We set up a scheduled export but nobody on the list gets the email.",
         "scheduled report not sent again this week"),
        ("The schedule belonged to a user who was deactivated, so it stopped. I've moved it to you and it "
         "will go out again next {weekday}.",),
        hours=30, csat=3.8, plans="paid",
    ),
    DemoProblem(
        "csv_encoding", "reporting", "Exported CSV garbles accented characters in Excel", 2.5,
        ("Strange characters in export", "Encoding problem in CSV", "Umlauts broken in export"),
        ("Names with accents look like 'Ã©' in the exported CSV when I open it in Excel.",
         "The export messes up special characters: ü becomes Ã¼.",
         "Customer names like 'José' come out garbled in the CSV.",
         "export has weird symbols instead of é, ñ etc"),
        ("Excel needs a hint to read the file as UTF-8. Please use the new 'CSV for Excel' option in the "
         "export menu, which adds it for you.",),
        hours=10, csat=4.0,
    ),
)

_MOBILE: tuple[DemoProblem, ...] = (
    DemoProblem(
        "app_crash_on_startup", "mobile", "Mobile app crashes on startup", 0.8,
        ("App crashes", "App won't open", "Crash on launch", "App broken after update"),
        ("Since updating to {version} the app crashes as soon as I open it.",
         "The app closes immediately on startup. I'm on my {device}, app version {version}.",
         "After the latest update ({version}) the app won't open at all: it shows the splash screen and "
         "then quits.",
         "app crashing on launch after update, {device}",
         "I can't use the mobile app anymore, it crashes every time I start it. Reinstalling didn't help.",
         "The whole sales team's phones are affected: the app crashes at launch since the update."),
        ("This was caused by the {version} update on devices with an old local cache. Version {hotfix} "
         "fixes it; please update from the app store.",
         "Our mobile team is working on a fix. In the meantime the web app works normally in your phone's "
         "browser."),
        ("I'm on {os}.", "I already deleted and reinstalled the app.",
         "It happens on Wi-Fi and on mobile data."),
        hours=100, csat=2.3, reopen=0.12,
    ),
    DemoProblem(
        "offline_changes_lost", "mobile", "Changes made offline are lost after sync", 3,
        ("Lost my data", "Offline changes gone", "Sync deleted my work"),
        ("I made changes while offline on a flight and they disappeared when I got back online.",
         "Everything I entered in the app without signal was lost after it synced.",
         "Offline mode doesn't save anything: after reconnecting my edits are gone.",
         "lost a whole day of notes after the app synced"),
        ("Edits made offline were overwritten because the same record was changed on the web meanwhile. "
         "I've restored your changes from our backups; version {hotfix} keeps both copies instead.",),
        hours=90, csat=2.9,
    ),
    DemoProblem(
        "logged_out_daily", "mobile", "Mobile app logs users out every day", 3,
        ("Keeps logging me out", "Have to log in every day", "Session expires"),
        ("The mobile app logs me out every single day. Very annoying.",
         "Why do I have to sign in to the app again every morning?",
         "On my {device} the app keeps forgetting my login.",
         "app logs me out constantly"),
        ("Your workspace has a 24-hour session limit for mobile, set by an admin. I've let your admin "
         "know; they can change it under Security > Sessions.",),
        hours=40, csat=3.5,
    ),
    DemoProblem(
        "photo_upload_fails", "mobile", "Photo attachments fail to upload from the app", 3,
        ("Can't upload photos", "Upload failed", "Attachment error in app"),
        ("Uploading photos from the app fails with 'Upload failed, try again'.",
         "I can't attach pictures on my {device}. The progress bar gets stuck halfway.",
         "Photos taken with the camera won't upload, screenshots do.",
         "photo upload not working on the app"),
        ("Photos in HEIC format weren't accepted. Version {hotfix} converts them automatically; until then, "
         "set the camera format to 'Most compatible'.",),
        hours=50, csat=3.3,
    ),
    DemoProblem(
        "dark_mode_unreadable", "mobile", "Unreadable text in dark mode", 1.5,
        ("Dark mode issue", "Can't read text", "Dark mode contrast"),
        ("In dark mode some text is black on a dark grey background, impossible to read.",
         "The app's dark mode makes the labels in forms invisible.",
         "dark mode: can't read anything on the settings screen"),
        ("Thanks for the report and the screenshots: our designers have fixed the contrast and it will be "
         "in the next app release.",),
        hours=200, csat=3.9,
    ),
)

_NOTIFICATIONS: tuple[DemoProblem, ...] = (
    DemoProblem(
        "slack_duplicates", "notifications", "Slack notifications arrive twice", 6,
        ("Double Slack messages", "Slack notifications duplicated", "Getting every alert twice"),
        ("Every notification in Slack arrives twice in {channel_name}.",
         "We get duplicate Slack alerts for each new item since {since_short}.",
         "Slack notifications are posted two times. It's spamming our {channel_name} channel.",
         "slack msgs coming in twice",
         "Each event triggers two identical Slack messages. Can you fix that?"),
        ("Your workspace had two Slack apps posting to {channel_name}: the old one from before our "
         "migration and the new one. I've removed the old connection.",),
        hours=55, csat=3.5, reopen=0.18,
    ),
    DemoProblem(
        "emails_in_spam", "notifications", "Notification emails land in spam", 4,
        ("Emails going to spam", "Notifications in junk folder", "Not receiving emails"),
        ("All notification emails from you end up in our spam folder.",
         "Our team doesn't see your emails because Outlook puts them in Junk.",
         "Gmail marks your notification emails as spam, we keep missing updates.",
         "emails from you land in spam"),
        ("Please add notifications@orbit.example to your safe senders. Your IT team can also allow our "
         "sending domain; I've attached the SPF and DKIM details.",),
        hours=20, csat=3.9,
    ),
    DemoProblem(
        "digest_wrong_time", "notifications", "Daily digest arrives at the wrong time", 2.5,
        ("Digest timing", "Daily summary in the middle of the night", "Wrong time for digest email"),
        ("The daily digest arrives at {hour} instead of in the morning.",
         "Why does the summary email come in the middle of the night? I'm in {tz}.",
         "Our daily digest is sent at the wrong time since the clocks changed.",
         "digest email comes at {hour}, can i change that?"),
        ("The digest used the server's timezone. I've set it to {tz}; you can pick the time yourself under "
         "Profile > Notifications > Digest.",),
        hours=30, csat=3.9,
    ),
    DemoProblem(
        "cant_unsubscribe", "notifications", "Can't turn off notification emails", 3,
        ("Unsubscribe", "Too many emails", "Stop notifications"),
        ("How do I stop getting an email for every single update? I've switched everything off but they "
         "still come.",
         "The unsubscribe link in your emails leads to an error page.",
         "I get way too many notification emails, please turn them off.",
         "pls stop the emails"),
        ("I've turned off activity emails for you. The unsubscribe link is fixed too; thanks for flagging "
         "it.",),
        hours=8, csat=3.6,
    ),
    DemoProblem(
        "push_missing", "notifications", "Mobile push notifications not received", 3,
        ("No push notifications", "Push not working", "Not getting alerts on phone"),
        ("I don't get any push notifications on my {device} even though they are enabled.",
         "Push notifications stopped working after I got a new phone.",
         "My colleagues get push alerts but I don't.",
         "no push notifications since {since_short}"),
        ("Your old phone was still registered for push. I've cleared it; please sign out of the app and "
         "back in to register the new one.",),
        hours=40, csat=3.4,
    ),
    DemoProblem(
        "mentions_not_notified", "notifications", "@mentions don't trigger a notification", 2,
        ("Mentions not working", "No notification when mentioned", "@mention problem"),
        ("When someone @mentions me in a comment I don't get notified at all.",
         "Mentions don't send any notification, neither email nor in-app.",
         "My team mentions me and I never find out.",
         "@mentions not notifying anyone"),
        ("Mentions of users who joined through an invite link weren't linked to their profile. That's "
         "fixed; new mentions will notify you.",),
        hours=70, csat=3.5,
    ),
)

PROBLEMS: tuple[DemoProblem, ...] = (
    *_BILLING, *_ACCOUNT, *_INTEGRATIONS, *_REPORTING, *_MOBILE, *_NOTIFICATIONS
)
PROBLEMS_BY_KEY: dict[str, DemoProblem] = {problem.key: problem for problem in PROBLEMS}
AREAS_BY_KEY: dict[str, DemoArea] = {area.key: area for area in AREAS}

# Tickets that name no product problem (thanks, call-me requests, auto-replies, vague complaints), each
# with the reply an agent would give, or "" where an agent would just close it.
NOISE: tuple[tuple[str, str], ...] = (
    ("thanks!", "You're welcome! Closing this for now."),
    ("Thank you so much, that fixed it.", "Glad to hear it!"),
    ("please call me", "Sure, one of our team will call you shortly. When is a good time?"),
    ("Can someone call me back at {phone}?", "Of course, we'll call you within the hour."),
    ("test", ""),
    ("Hello? Is anybody there?", "Hi! Yes, we're here. How can we help?"),
    ("?", "Could you tell us a bit more about what you need help with?"),
    ("Can you give me a call tomorrow morning?", "Sure, I've booked a call for tomorrow at 10."),
    ("Unsubscribe", "Done, you won't receive our newsletter anymore."),
    ("I sent you an email yesterday, did you get it?", "Yes, we got it, and a colleague is replying there."),
    ("Nothing works. Please help.", "Sorry to hear that! Could you tell us what you were trying to do?"),
    ("I'm out of the office until {weekday} with limited access to email. For urgent matters please "
     "contact {colleague}.", ""),
    ("Automatic reply: I am on leave and will respond when I'm back.", ""),
    ("Could you send me your company's W-9 and bank details for our vendor onboarding?",
     "I've forwarded this to our finance team; they'll send the forms today."),
    ("We'd love to feature you in our newsletter. Who is the right person to talk to?",
     "Thanks! I've passed this on to our marketing team."),
    ("Just checking this reached the right team.", "It did, thanks!"),
    ("ok", ""),
    ("See attached.", "Thanks, I don't see an attachment; could you send it again?"),
)
NOISE_SUBJECTS = ("", "Hi", "Question", "Call me", "Re: your message", "Automatic reply", "Hello", "FYI")

# Words of the customer's own voice, around the problem.
GREETINGS = ("Hi,", "Hello,", "Hi team,", "Hello team", "Hey,", "Dear Support,", "Good morning,", "Hi there,",
             "Hello {product} team,", "")
CHAT_GREETINGS = ("hi", "hey", "hello", "Hi there", "hi!", "Hello")
CONTEXT = (
    "I'm using {browser} on a Mac.", "This worked fine until recently.", "Screenshot attached.",
    "I already tried logging out and back in.", "This is blocking my whole team.",
    "We've been customers for years and never had this problem.", "Our account is under {company}.",
    "It happens on my colleague's computer too.", "Not sure if this is the right place to ask.",
)
CLOSERS = ("Can you help?", "Please advise.", "This is urgent for us.", "Any idea what's going on?",
           "Thanks in advance!", "We need this fixed before month end.",
           "Let me know if you need anything else.")
SECOND_PROBLEM_JOINS = ("Also, {text}", "One more thing: {text}", "P.S. {text}",
                        "And while I'm at it: {text}", "Another issue: {text}")
SIGN_OFFS = ("Thanks,", "Thanks!", "Best,", "Best regards,", "Cheers,", "Kind regards,", "Thank you",
             "Regards,")
MOBILE_FOOTERS = ("Sent from my iPhone", "Sent from my iPad", "Sent from my Galaxy", "Get Outlook for iOS",
                  "Sent from my mobile device")
JOB_TITLES = ("Office Manager", "CFO", "Head of Operations", "Sales Operations", "IT Administrator",
              "Founder", "Customer Success Lead", "Finance Manager", "Marketing Manager", "CTO",
              "Project Manager")

DETAILS_GENERIC = ("Sure, screenshot attached.", "It's {browser}, latest version.",
                   "Yes, the whole team has this problem.", "No, that didn't help.",
                   "Same account as before, {email}.", "It started {since_short}.")
BUMPS = ("Any update on this?", "Hi, just following up: this is still happening.",
         "It's been {n} days, is anyone looking at this?", "Still waiting for a reply...",
         "Can you please give me an update? We're stuck.")
THANKS = ("Thanks, that worked!", "Perfect, thank you!", "great, all good now", "Thanks for the quick help.",
          "ok thanks", "That did it, much appreciated.")
REOPENS = ("Hi again, it's happening again.", "Unfortunately the problem is back.",
           "This is broken again since this morning.", "Sorry to reopen this, but it's not fixed.")

AGENT_NAMES = ("Jamie Ortiz", "Priya Raman", "Tom Becker", "Lena Fischer", "Marcus Hale", "Aiko Tanaka",
               "Sofia Rossi", "Dan Whitaker")
AGENT_OPENERS = ("Thanks for reaching out! ", "Sorry for the trouble. ", "Thanks for getting in touch. ", "",
                 "Sorry to hear that! ", "Thanks for the details. ")
AGENT_ACKS = ("Let me look into this for you.", "I'm checking this now.", "Happy to help with that.")
AGENT_ESCALATIONS = (
    "I've passed this on to our engineering team and will get back to you as soon as I hear from them.",
    "Thanks for the details. I've logged this with our developers (ref {jira}) and will keep you posted.",
    "I can reproduce this on our side and have escalated it to the product team.",
)
INTERNAL_NOTES = ("Checked the logs; looks like the same thing as last week.", "Escalated to tier 2.",
                  "Customer is on {plan} (ARR {arr}). Please prioritise.", "Linked to {jira}.",
                  "Asked engineering in #support-escalations.")
BOT_NAME = "Orbit Bot"
BOT_GREETINGS = ("Hi {first} \N{WAVING HAND SIGN} How can we help today?",
                 "Welcome to {product} support! Ask us anything; a teammate usually replies within minutes.",
                 "Hi there! You might find an answer in our help center: https://help.orbit.example")
BOT_HANDOFFS = ("Thanks! Connecting you with a teammate...",
                "Got it. A member of our team will be right with you.")
BOT_CLOSES = ("This conversation was closed automatically after 24 hours without a reply.",)

# Slot fillers drawn at random; computed slots (amounts, ids, names, dates) live in tickets.demo.
SLOTS: dict[str, tuple[str, ...]] = {
    "country": ("Spain", "Germany", "Brazil", "Japan", "Canada", "the UK", "Mexico", "India", "France",
                "Australia", "Poland", "South Africa"),
    "card": ("Visa", "Mastercard", "Amex", "company Visa", "corporate Amex", "Visa debit card"),
    "amount": ("$49.00", "$129.00", "€89.00", "$1,188.00", "£240.00", "$588.00", "€1,740.00"),
    "browser": ("Chrome", "Safari", "Firefox", "Edge"),
    "idp": ("Okta", "Azure AD", "Google Workspace", "OneLogin", "Microsoft Entra ID"),
    "report": ("monthly revenue report", "team activity report", "pipeline summary", "SLA report",
               "sales by region report"),
    "since": ("since yesterday", "for two days now", "since this morning", "all week", "since Monday"),
    "since_short": ("yesterday", "Monday", "last week", "this morning", "the weekend"),
    "when": ("tomorrow", "this afternoon", "on Friday", "in an hour"),
    "plan_target": ("Pro", "Enterprise", "the annual plan"),
    "n": ("3", "4", "5", "6", "7", "8", "10", "12"),
    "big_n": ("14,500", "25,000", "48,000", "120,000"),
    "hour": ("3am", "4:30 in the morning", "11pm", "midnight", "2 am"),
    "tz": ("CET", "Pacific time", "Sydney time", "EST", "IST", "GMT+2"),
    "channel_name": ("#sales", "#support-alerts", "#ops", "#general", "#deals"),
    "sf_field": ("Region__c", "Contract_Tier__c", "Renewal Date", "Account Manager"),
    "zap_source": ("Typeform", "Gmail", "Google Sheets", "Shopify"),
    "api_limit": ("300", "600", "1,000"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "product": (PRODUCT,),
}
DEVICES: tuple[tuple[str, str], ...] = (
    ("iPhone 13", "iOS 17.4"), ("iPhone 15 Pro", "iOS 17.5"), ("iPhone SE", "iOS 16.7"),
    ("Pixel 7", "Android 14"), ("Pixel 8", "Android 14"), ("Samsung Galaxy S22", "Android 13"),
    ("Galaxy A54", "Android 14"),
    ("iPad Air", "iPadOS 17.4"),
)
VAT_PREFIXES = ("DE", "FR", "NL", "ES", "IE", "AT", "BE", "IT")

# People and companies.
FIRST_NAMES = (
    "Mia", "Noah", "Olivia", "Liam", "Emma", "Lucas", "Sofia", "Mateo", "Aisha", "Omar", "Chen", "Wei",
    "Yuki", "Haruto", "Priya", "Arjun", "Fatima", "Kwame", "Amara", "Lars", "Ingrid", "Pierre", "Camille",
    "Giulia",
    "Marco", "Ana", "João", "Carlos", "Lucía", "Zofia", "Jakub", "Elif", "Mehmet", "Sara", "David", "Rachel",
    "James", "Emily", "Michael", "Hannah", "Daniel", "Grace", "Sam", "Alex", "Jordan", "Taylor", "Nina",
    "Oscar", "Freya", "Erik", "Leila", "Tariq", "Ravi", "Ananya", "Kenji", "Min-jun", "Ji-woo", "Thabo",
    "Zanele", "Diego", "Valentina", "Ben", "Chloe", "Ethan", "Isla", "Finn", "Maya", "Leo", "Ava", "Hugo",
)
LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Müller", "Schmidt", "Rossi", "Dubois", "Martin", "Nguyen", "Kim", "Park",
    "Tanaka", "Sato", "Patel", "Sharma", "Khan", "Ahmed", "Okafor", "Mensah", "Silva", "Santos", "Costa",
    "Kowalski", "Nowak", "Novak", "Jensen", "Larsen", "Andersson", "Virtanen", "O'Brien", "Murphy", "Walsh",
    "Brown", "Taylor", "Wilson", "Clarke", "Evans", "Hughes", "Lopez", "Hernandez", "Moreau", "Fischer",
    "Weber", "Becker", "Yilmaz", "Demir", "Cohen", "Levi", "Ivanova", "Petrov", "Haddad", "Mansour",
    "Dlamini", "Naidoo", "Chen", "Wang", "Li", "Zhang", "Reyes", "Cruz", "Bakker", "de Vries", "Janssen",
)
COMPANY_PREFIXES = (
    "Blue", "North", "Silver", "Bright", "Iron", "Red", "Quantum", "Green", "Summit", "Cedar", "Harbor",
    "Polar", "Golden", "Swift", "Clear", "True", "Stone", "Maple", "Copper", "Nova", "Atlas", "Pine",
    "Crystal",
    "Lumen", "Vertex", "Sun", "Oak", "River", "Echo", "Pixel", "Urban", "Prime", "Coastal", "Alpine", "Tidal",
)
COMPANY_NOUNS = (
    "wave", "peak", "leaf", "forge", "field", "bridge", "point", "stack", "path", "light", "works", "line",
    "grid", "spark", "gate", "yard", "ridge", "mark", "scale", "craft", "loop", "port", "nest", "bay", "wind",
    "rock", "well", "hive", "flow", "beam",
)
COMPANY_SUFFIXES = (
    "", "", "", " Labs", " Inc.", " GmbH", " Ltd", " Logistics", " Health", " Studio", " Systems", " Foods",
    " Analytics", " Consulting", " Partners", " Media", " Retail", " Energy", " Travel", " Legal", " Capital",
    " Robotics", " Dental", " Architects", " Software", " Group",
)
