#!/usr/bin/env python3
"""Generates corpus.jsonl: the redaction evaluation corpus.

Every value is synthetic: names are invented, numbers are random (cards are Luhn-valid test
numbers, IBANs carry correct mod-97 check digits, SSNs are in issuable ranges), documentation
ranges are used for IPs (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and
phone numbers are of the fictional 555-01xx kind where a country has one.

Each line: {"id", "kind": "positive"|"lookalike"|"mixed"|"hard", "text", "entities": [{"type",
"value"}]}. A look-alike has no entities: nothing in it may be redacted.

Run: python3 crates/genai/testdata/pii/generate.py > crates/genai/testdata/pii/corpus.jsonl
The output is deterministic (seeded).
"""

import base64
import json
import random
import string

rng = random.Random(20261122)

FIRST = ["Ana", "Bilal", "Chen", "Dorota", "Emeka", "Fatima", "Gustavo", "Hiroshi", "Ines",
         "Jonas", "Kavya", "Liam", "Mei", "Nikolai", "Olu", "Priya", "Quentin", "Rosa",
         "Sven", "Tamar", "Umar", "Valeria", "Wen", "Ximena", "Yusuf", "Zofia"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Haddad", "Silva", "Kowalski",
        "Brennan", "Castillo", "Ivanova", "Mensah", "Schulz", "Duarte", "Nakamura", "Patel"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example.co.uk",
           "northwind.example", "contoso.example.io", "fabrikam.example.de", "acme.example"]


def name():
    return rng.choice(FIRST), rng.choice(LAST)


def email():
    f, l = name()
    style = rng.randrange(6)
    local = [f"{f}.{l}", f"{f[0]}{l}", f"{f}_{l}{rng.randrange(10, 99)}",
             f"{f}+support", f"{l}.{f}", f"{f}{rng.randrange(1970, 2005)}"][style]
    if rng.random() < 0.7:
        local = local.lower()
    return f"{local}@{rng.choice(DOMAINS)}"


def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))


def phone():
    sub = f"{rng.randrange(100, 199):03d}"[-2:]
    area = rng.choice(["415", "212", "312", "646", "303", "617", "206", "512"])
    line = f"01{sub}"
    forms = [
        f"+1 {area} 555 {line}",
        f"+1{area}555{line}",
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"{area}.555.{line}",
        f"+1 ({area}) 555-{line}",
        f"+44 20 7946 0{rng.randrange(100, 999)}",
        f"+44 7700 900{rng.randrange(100, 999)}",
        f"020 7946 0{rng.randrange(100, 999)}",
        f"07700 900{rng.randrange(100, 999)}",
        f"+49 30 {digits(6)}",
        f"+49 151 {digits(8)}",
        f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"01 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"+61 2 {digits(4)} {digits(4)}",
        f"+91 98{digits(3)} {digits(5)}",
        f"+81 3-{digits(4)}-{digits(4)}",
        f"+34 612 {digits(3)} {digits(3)}",
    ]
    return rng.choice(forms)


def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def luhn_ok(number):
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card():
    brand = rng.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb", "diners",
                        "unionpay"])
    if brand == "visa":
        n = luhn_complete("4", 16)
    elif brand == "mc":
        n = luhn_complete(str(rng.randrange(51, 56)), 16)
    elif brand == "mc2":
        n = luhn_complete(str(rng.randrange(2221, 2721)), 16)
    elif brand == "amex":
        n = luhn_complete(rng.choice(["34", "37"]), 15)
        return rng.choice([n, f"{n[:4]} {n[4:10]} {n[10:]}", f"{n[:4]}-{n[4:10]}-{n[10:]}"])
    elif brand == "discover":
        n = luhn_complete("6011", 16)
    elif brand == "jcb":
        n = luhn_complete("35" + str(rng.randrange(28, 90)), 16)
    elif brand == "diners":
        n = luhn_complete("36", 14)
        return rng.choice([n, f"{n[:4]} {n[4:10]} {n[10:]}"])
    else:
        n = luhn_complete("62", 19)
        return n
    sep = rng.choice(["", " ", "-", " "])
    return sep.join([n[0:4], n[4:8], n[8:12], n[12:16]]) if sep else n


IBAN_FORMATS = {"DE": "n18", "GB": "a4n14", "FR": "n23", "ES": "n20", "IT": "a1n22",
                "NL": "a4n10", "BE": "n12", "CH": "n17", "AT": "n16", "PL": "n24",
                "IE": "a4n14", "PT": "n21", "SE": "n20", "NO": "n11"}


def iban_check(country, bban):
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(num) % 97:02d}"


def iban(valid=True):
    country = rng.choice(list(IBAN_FORMATS))
    fmt = IBAN_FORMATS[country]
    bban = ""
    i = 0
    while i < len(fmt):
        kind = fmt[i]
        j = i + 1
        while j < len(fmt) and fmt[j].isdigit():
            j += 1
        count = int(fmt[i + 1:j])
        pool = string.ascii_uppercase if kind == "a" else string.digits
        bban += "".join(rng.choice(pool) for _ in range(count))
        i = j
    check = iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + rng.randrange(1, 90)) % 97 + 2:02d}"
        if check == iban_check(country, bban):
            check = f"{(int(check) + 1) % 97 + 2:02d}"
    raw = country + check + bban
    if rng.random() < 0.6:
        return " ".join(raw[k:k + 4] for k in range(0, len(raw), 4))
    return raw


def ssn():
    area = rng.choice([a for a in range(1, 900) if a != 666])
    sep = "-" if rng.random() < 0.85 else " "
    return f"{area:03d}{sep}{rng.randrange(1, 100):02d}{sep}{rng.randrange(1, 10000):04d}"


def ipv4():
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113", "10.20." + str(rng.randrange(0, 255)),
                      "172.16." + str(rng.randrange(0, 255)), "192.168.1"])
    return f"{net}.{rng.randrange(1, 255)}"


def ipv6():
    h = lambda: f"{rng.randrange(1, 0xffff):x}"
    forms = [
        f"2001:db8:{h()}:{h()}:{h()}:{h()}:{h()}:{h()}",
        f"2001:db8::{h()}:{h()}",
        f"2001:db8:{h()}::{h()}",
        f"fe80::{h()}:{h()}:{h()}:{h()}",
        f"2001:0db8:0000:0000:0000:ff00:0042:{rng.randrange(0x1000, 0xffff):04x}",
    ]
    return rng.choice(forms)


B64URL = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits


def rand(pool, n):
    return "".join(rng.choice(pool) for _ in range(n))


def aws_key():
    return rng.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + "234567", 16)


def api_key():
    forms = [
        "sk-" + rand(ALNUM, 48),
        "sk-proj-" + rand(B64URL, 56),
        "sk-ant-api03-" + rand(B64URL, 86) + "AA",
        "sk_live_" + rand(ALNUM, 24),
        "ghp_" + rand(ALNUM, 36),
        "xoxb-" + digits(12) + "-" + digits(13) + "-" + rand(ALNUM, 24),
    ]
    return rng.choice(forms)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt():
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    f, l = name()
    payload = b64url(json.dumps({"sub": digits(8), "name": f"{f} {l}",
                                 "iat": 1795327200 + rng.randrange(0, 86400)}).encode())
    return f"{header}.{payload}.{rand(B64URL, 43)}"


def bearer():
    token = rng.choice([rand(ALNUM + "-._~", 40), jwt()])
    return f"Bearer {token}"


def private_key():
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    lines = [rand(string.ascii_letters + string.digits + "+/", 64) for _ in range(rng.randrange(3, 7))]
    body = "\n".join(lines)
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


GEN = {
    "email": email, "phone": phone, "credit_card": card, "iban": iban, "ssn": ssn,
    "ipv4": ipv4, "ipv6": ipv6, "aws_access_key": aws_key, "api_key": api_key, "jwt": jwt,
    "bearer_token": bearer, "private_key": private_key,
}

TEMPLATES = {
    "email": [
        "Hi, I'm {n}. My account email is {v} and I can't log in since yesterday.",
        "Please send the invoice to {v} instead of the old address.",
        "Update the contact on ticket #48213 to {v}.",
        "I've changed the notification address to {v}; you'll get a confirmation shortly.",
        "From: {v}\nSubject: Refund request\n\nHello, I'd like a refund for order ORD-2026-118833.",
        "The user {v} reported that the export job failed at 02:14 UTC.",
        "Can you check why {v} keeps receiving duplicate password reset mails?",
        "cc: {v}, they own the billing account.",
        "Contact: <{v}> (preferred), otherwise the phone on file.",
        "Summarize the thread with {v} about the Q3 renewal.",
    ],
    "phone": [
        "You can reach me at {v} after 5pm.",
        "My phone number is {v}, please call before shipping.",
        "Customer callback number: {v}.",
        "I've added {v} as the second factor for your account.",
        "Text the delivery code to {v} when the courier arrives.",
        "Call {v} for the on-call engineer this week.",
        "Tel. {v} (office), mobile on request.",
        "The caller ID showed {v} but nobody answered.",
    ],
    "credit_card": [
        "Please charge my card {v}, expiry 09/28, for the annual plan.",
        "The payment with card number {v} was declined twice.",
        "Card: {v} exp 11/27 cvc on the back.",
        "Can you refund the charge on {v}? It was a duplicate.",
        "I've updated the card on file to the one ending in the digits you sent ({v}).",
        "Billing failed for {v} with code insufficient_funds.",
        "my visa is {v} thanks",
        "Use {v} for the order, shipping to the office.",
    ],
    "iban": [
        "Please wire the refund to IBAN {v}.",
        "Our supplier's account is {v} (beneficiary Northwind GmbH).",
        "Change the payout account to {v}, effective next month.",
        "The SEPA transfer from {v} bounced with reason AC04.",
        "IBAN: {v}\nBIC: DEUTDEFFXXX",
        "Refund goes back to {v} within 5 business days.",
    ],
    "ssn": [
        "My SSN is {v} if you need it for the tax form.",
        "Applicant social security number: {v}.",
        "Verify the customer: SSN {v}, date of birth 1984-03-12.",
        "The W-9 lists {v} as the taxpayer identification number.",
        "ssn={v} name={n}",
    ],
    "ipv4": [
        "The login attempts came from {v} at 03:12 UTC.",
        "Whitelist {v} on the firewall for the VPN gateway.",
        "X-Forwarded-For: {v}",
        "User reported the timeout while connecting from {v}:8443.",
        "Blocked {v} after 50 failed attempts in 2 minutes.",
        "The database host resolves to {v} in the private network.",
    ],
    "ipv6": [
        "Traffic from {v} was rate limited.",
        "Client address {v} failed the TLS handshake.",
        "Add {v} to the allow list.",
        "The session started from [{v}]:443.",
    ],
    "aws_access_key": [
        "aws configure set aws_access_key_id {v}",
        "The leaked key {v} was rotated this morning.",
        "AWS_ACCESS_KEY_ID={v} in the CI logs.",
        "Why does {v} get AccessDenied on s3:PutObject?",
    ],
    "api_key": [
        "export OPENAI_API_KEY={v}",
        "My key is {v}, why do I get 401?",
        "Set ANTHROPIC_API_KEY to {v} in the .env file.",
        "client = Client(api_key=\"{v}\")",
        "The token {v} was committed to the repo by mistake.",
    ],
    "jwt": [
        "Decode this token for me: {v}",
        "The cookie session={v} expired too early.",
        "id_token: {v}",
        "Why is {v} rejected with invalid signature?",
    ],
    "bearer_token": [
        "curl -H 'Authorization: {v}' https://api.example.com/v1/projects",
        "Request headers: Authorization: {v}",
        "I sent {v} but the API says unauthorized.",
    ],
    "private_key": [
        "Here is the deploy key, please install it:\n{v}",
        "Is this key format right?\n{v}\nThe server rejects it.",
        "{v}",
    ],
}

LOOKALIKES = [
    "Your order ORD-2026-118833 shipped on 2026-11-22T14:05:33Z.",
    "Order #100234556 will arrive on 11/24/2026.",
    "Invoice INV-2026-000123 for 1,840.00 USD is paid.",
    "Reference number 7734-2291-0042 was assigned to the case.",
    "PO 4500012345 was approved by procurement.",
    "The build finished at 2026-11-22 14:05:33.123+01:00 in 12:30:45.",
    "Epoch timestamp 1732272000123 corresponds to 2024-11-22.",
    "Logged at 1795327200 seconds since the epoch.",
    "Upgrade to v1.2.3 or later; version 2.14.0.1 is affected.",
    "Chrome/120.0.6099.109 Safari/537.36 on Windows 10.0.19045.2965",
    "Node 18.19.1 and Python 3.11.6 are supported; release 1.0.0.1 is the LTS.",
    "The firmware build 4.2.10.7 fixes the Wi-Fi issue.",
    "The test card 4111 1111 1111 1112 fails Luhn, as expected.",
    "Tracking number 1Z999AA10123456784 is in transit.",
    "UUID 3f2a9c01-d4e5-4b6a-8c9d-0e1f2a3b4c5d identifies the run.",
    "Commit 9fceb02d0ae598e95dc970b74767f19372d61af8 introduced the bug.",
    "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "We use sk-learn style pipelines and a task-force-alpha label.",
    "He was the bearer of bad news about the outage.",
    "The meeting is at 12:30:45 and the MAC is 00:1A:2B:3C:4D:5E.",
    "In C++ use std::vector and std::fmt::format, not Vec::new.",
    "Total: $1,234.56 for 3 items; 1 234 567 units shipped in 2026.",
    "ZIP 94107, ISBN 978-3-16-148410-0, SKU-55501-34.",
    "The meeting moved to 22.11.2026, room 4.12.",
    "Extension 555-0134 is the front desk.",
    "Ping @ana-okafor on the thread; install lodash@4.17.21.",
    "Send it to admin@localhost on the dev box.",
    "Pi is 3.14159265358979 to fifteen places.",
    "The account id is 123456789012 in us-east-1.",
    "Run `kubectl get pods -n prod-4155550134` to list them.",
    "Case 2026-118-8833 is closed.",
    "Latency p99 was 1834.5 ms across 1200000 requests.",
    "The SSN field must look like 000-12-3456 is rejected, 666-45-6789 too.",
    "Invalid SSNs such as 912-34-5678 and 123-00-4567 or 123-45-0000 fail validation.",
    "Request id req_8f3a9c01d4e5b6a7 failed with 429 after 600 requests per minute.",
    "The model gpt-4o-2024-08-06 and claude-3-5-sonnet-20241022 were compared.",
    "Container image nginx:1.27.3-alpine was pinned.",
    "Session 2026-11-22T06:00:00.000000000Z to 2026-11-22T06:00:05.250000000Z.",
    "Quota: 96 vCPU, 384 GiB, 10.5.0 client, range 10-20-30-40.",
    "The numbers 1234 5678 9012 3456 on the slide are placeholders and fail the checksum.",
    "Error code 0x80070005 at offset 0x0000000000401000.",
    "Kubernetes 1.31.2, etcd 3.5.16, containerd 1.7.23.",
    "Coordinates 37.7749, -122.4194 for the San Francisco office.",
    "Build number 20261122.1453 passed all 4821 tests.",
    "The IBAN-like code XX12 3456 7890 1234 5678 is a test fixture.",
    "Order 4000 0000 0000 0001 units of widget 7.",
    "Call the hotline at extension 4410 or 4411.",
    "Ticket 48213 was merged into 48190.",
    "Use port 8443 and the range 1024-65535.",
    "Release notes for 2026.11.2 list 37 fixes.",
]

# Non-Luhn 16-digit numbers with card-like prefixes, and IBANs with wrong check digits.
def bad_card():
    while True:
        n = "4" + digits(15)
        if not luhn_ok(n):
            return rng.choice([n, " ".join(n[k:k + 4] for k in range(0, 16, 4))])


BAD_TEMPLATES = [
    ("Shipment reference {v} is delayed.", bad_card),
    ("The SEPA reference {v} has a wrong check digit.", lambda: iban(valid=False)),
    ("Internal id {v} should not be mistaken for a card.", bad_card),
]


def main():
    rows = []
    for kind, templates in TEMPLATES.items():
        reps = 4 if kind in ("email", "phone", "credit_card") else 3
        for rep in range(reps):
            for t in templates:
                f, l = name()
                v = GEN[kind]()
                rows.append({"kind": "positive", "text": t.format(v=v, n=f"{f} {l}"),
                             "entities": [{"type": kind, "value": v}]})
    for text in LOOKALIKES:
        rows.append({"kind": "lookalike", "text": text, "entities": []})
    for _ in range(8):
        for t, gen in BAD_TEMPLATES:
            rows.append({"kind": "lookalike", "text": t.format(v=gen()), "entities": []})
    # Mixed prompts and completions with several entities each.
    mixed = [
        ("I'm {n}, email {email}, phone {phone}. Please refund card {credit_card} to IBAN {iban}.",
         ["email", "phone", "credit_card", "iban"]),
        ("Assistant: I've verified {n} (SSN {ssn}) and sent the confirmation to {email}. "
         "Your order ORD-2026-{o} ships on 2026-11-24.",
         ["ssn", "email"]),
        ("Tool call lookup_customer({{\"email\": \"{email}\", \"phone\": \"{phone}\"}}) returned "
         "status=active since 2024-03-01.",
         ["email", "phone"]),
        ("The login from {ipv4} used key {aws_access_key}; rotate it and notify {email}.",
         ["ipv4", "aws_access_key", "email"]),
        ("Debug dump: version 3.2.1, host {ipv6}, auth {bearer_token}, retries 3.",
         ["ipv6", "bearer_token"]),
        ("Customer {n} paid with {credit_card} on 2026-11-20 (invoice INV-2026-{o}); "
         "callback {phone}.",
         ["credit_card", "phone"]),
        ("Set OPENAI_API_KEY={api_key} and send the report to {email} by 17:00.",
         ["api_key", "email"]),
    ]
    for _ in range(8):
        for t, kinds in mixed:
            f, l = name()
            values = {k: GEN[k]() for k in kinds}
            text = t.format(n=f"{f} {l}", o=digits(6), **values)
            rows.append({"kind": "mixed", "text": text,
                         "entities": [{"type": k, "value": values[k]} for k in kinds]})
    # Known limitations, kept in the corpus so the scores stay honest: a seven-digit local
    # number and a spelled-out email are not detected. (The unseparated national number is found
    # since issue 15, as it follows a phone word.)
    hard = [
        ("Call me back on 4155550134 any time.", "phone", "4155550134"),
        ("The front desk is 555-0134 from inside the building.", "phone", "555-0134"),
        ("Write to ana dot okafor at example dot com.", "email", "ana dot okafor at example dot com"),
    ]
    for text, kind, value in hard:
        rows.append({"kind": "hard", "text": text, "entities": [{"type": kind, "value": value}]})
    for i, row in enumerate(rows):
        row = {"id": f"pii-{i:04d}", **row}
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
