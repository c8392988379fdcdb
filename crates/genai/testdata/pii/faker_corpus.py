#!/usr/bin/env python3
"""Generates faker_corpus.jsonl: an independent, multi-locale redaction evaluation corpus.

Unlike corpus.jsonl (written alongside the detectors), the values here come from Faker's
locale providers, so the formats are Faker's, not ours: national phone formats with
parenthesised area codes, no separators, `001-`/`+44(0)` prefixes and `x123` extensions,
every card type of `credit_card_number()` (13 to 19 digits), locale IBANs, US SSNs, IPs and
emails, inside prompt sentences in the locale's language and in English. National identity
numbers other than the US SSN (UK NINO, French INSEE, Italian codice fiscale, Brazilian CPF,
Spanish NIF, Canadian SIN) are kept as type `national_id`: tracegate has no detector for them,
the test reports them apart and does not count them in the asserted figures.

Look-alikes (nothing may be redacted) are generated as well: order and invoice numbers,
timestamps, dates, versions, ISBNs and EANs, tracking numbers, prices, counts, hex ids,
Luhn-invalid digit runs of card length, postcodes and short numbers.

Same line format as corpus.jsonl: {"id", "kind", "locale", "text", "entities": [{"type",
"value"}]}.

Generated with Faker 40.63.0 (seed SEED below), in a throwaway venv:
  python3 -m venv /tmp/fakervenv && /tmp/fakervenv/bin/pip install faker==40.63.0
  /tmp/fakervenv/bin/python crates/genai/testdata/pii/faker_corpus.py \
      > crates/genai/testdata/pii/faker_corpus.jsonl
The output is deterministic for a given Faker version. Do not edit the JSONL by hand.
"""

import json
import os
from datetime import datetime
import random

from faker import Faker

# FAKER_CORPUS_SEED generates a held-out corpus (to check the detectors were not fitted to
# this one); the committed fixture uses the default.
SEED = int(os.environ.get("FAKER_CORPUS_SEED", "20261201"))
# Faker's dates end at "now" unless told otherwise: a fixed end keeps the output reproducible.
END = datetime(2026, 12, 1)
rng = random.Random(SEED)
Faker.seed(SEED)

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "ja_JP", "pt_BR", "en_IN",
           "en_CA", "nl_NL", "pl_PL"]
CARD_TYPES = ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "diners",
              "jcb15", "jcb16"]

# Prompt sentences, per language; `{v}` is the value, `{n}` a name.
PHONE = {
    "en": ["You can reach me at {v} after 5pm.",
           "My phone number is {v}, please call before shipping.",
           "Customer callback number: {v}.",
           "Text the delivery code to {v} when the courier arrives.",
           "Call {v} for the on-call engineer this week.",
           "The caller ID showed {v} but nobody answered.",
           "Contact: {n}, {v}.",
           "{n} ({v}) asked for a refund of the last invoice.",
           "Assistant: I have updated the number on file to {v}."],
    "de": ["Sie erreichen mich unter {v}.",
           "Meine Telefonnummer ist {v}, bitte vor der Lieferung anrufen.",
           "Rückruf an {n} unter {v}."],
    "fr": ["Vous pouvez me joindre au {v} après 18h.",
           "Mon numéro de téléphone est le {v}.",
           "Rappeler {n} au {v}."],
    "es": ["Puede llamarme al {v} por la tarde.",
           "Mi teléfono es {v}, gracias.",
           "Contacto: {n}, tel. {v}."],
    "it": ["Può chiamarmi al {v} dopo le 17.",
           "Il mio numero di telefono è {v}.",
           "Richiamare {n} al {v}."],
    "ja": ["電話番号は {v} です。よろしくお願いします。",
           "{n}様の連絡先: {v}",
           "折り返しは {v} までお願いします。"],
    "pt": ["Pode me ligar no {v} à tarde.",
           "Meu telefone é {v}.",
           "Contato: {n}, fone {v}."],
    "nl": ["U kunt mij bereiken op {v}.",
           "Mijn telefoonnummer is {v}."],
    "pl": ["Proszę dzwonić pod numer {v}.",
           "Mój numer telefonu to {v}."],
}
MSISDN = ["Send the SMS code to MSISDN {v}.",
          "The subscriber's mobile number is {v}.",
          "WhatsApp: {v}"]
EMAIL = ["Hi, I'm {n}. My account email is {v} and I can't log in.",
         "Please send the invoice to {v} instead of the old address.",
         "cc: {v}, they own the billing account.",
         "Summarize the thread with {v} about the renewal.",
         "Meine E-Mail-Adresse ist {v}.",
         "Mon adresse e-mail : {v}",
         "Mi correo es {v}.",
         "メールアドレス: {v}"]
CARD = ["Please charge my card {v}, expiry 09/28, for the annual plan.",
        "The payment with card number {v} was declined twice.",
        "Card: {v} exp 11/27 cvc on the back.",
        "Can you refund the charge on {v}? It was a duplicate.",
        "my card is {v} thanks",
        "Meine Kreditkarte: {v}, gültig bis 03/29.",
        "Numéro de carte {v}, date d'expiration 04/28.",
        "Tarjeta {v}, caduca 12/27.",
        "カード番号 {v} で支払いました。"]
IBAN = ["Please wire the refund to IBAN {v}.",
        "Our supplier's account is {v} (beneficiary {n}).",
        "Bitte überweisen Sie den Betrag auf {v}.",
        "Virement sur le compte {v} avant vendredi.",
        "IBAN: {v}"]
SSN = ["My SSN is {v} if you need it for the tax form.",
       "Applicant social security number: {v}.",
       "Verify the customer: SSN {v}, born 1984-03-12.",
       "ssn={v} name={n}"]
IPV4 = ["The login attempts came from {v} at 03:12 UTC.",
        "Whitelist {v} on the firewall.",
        "X-Forwarded-For: {v}",
        "Blocked {v} after 50 failed attempts in 2 minutes."]
IPV6 = ["Traffic from {v} was rate limited.",
        "Client address {v} failed the TLS handshake."]
NATIONAL = ["My national ID number is {v}.",
            "Tax number of {n}: {v}",
            "Document: {v}"]

LANG = {"en_US": "en", "en_GB": "en", "en_IN": "en", "en_CA": "en", "de_DE": "de",
        "fr_FR": "fr", "es_ES": "es", "it_IT": "it", "ja_JP": "ja", "pt_BR": "pt",
        "nl_NL": "nl", "pl_PL": "pl"}


def group_card(n):
    """The usual groupings of a card number, or none."""
    style = rng.randrange(4)
    if style == 0:
        return n
    sep = " " if style in (1, 2) else "-"
    if len(n) == 15 and n[0] == "3":
        return sep.join([n[:4], n[4:10], n[10:]])
    if len(n) == 14:
        return rng.choice([sep.join([n[:4], n[4:10], n[10:]]),
                           sep.join([n[k:k + 4] for k in range(0, 14, 4)])])
    return sep.join(n[k:k + 4] for k in range(0, len(n), 4))


def group_iban(v):
    return v if rng.random() < 0.5 else " ".join(v[k:k + 4] for k in range(0, len(v), 4))


def national_ids(f, loc):
    """The locale's identity numbers that the SSN detector does not cover."""
    return {
        "en_GB": lambda: f.ssn(),
        "fr_FR": lambda: f.ssn(),
        "it_IT": lambda: f.ssn(),
        "pt_BR": lambda: f.cpf(),
        "es_ES": lambda: f.nif(),
        "en_CA": lambda: f.ssn(),
    }.get(loc)


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


def rdigits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def lookalikes(f):
    """Look-alike sentences generated from Faker values and random digits."""
    def bad_card():
        while True:
            n = rng.choice("3456") + rdigits(rng.randrange(12, 19))
            if not luhn_ok(n):
                return group_card(n)

    gens = [
        lambda: f"Your order {f.bothify('ORD-####-######')} shipped on {f.iso8601(end_datetime=END)}Z.",
        lambda: f"Order #{rdigits(9)} will arrive on {f.date(pattern='%m/%d/%Y', end_datetime=END)}.",
        lambda: f"Invoice {f.bothify('INV-####-#####')} for {f.pricetag()} is paid.",
        lambda: f"Order number {rdigits(10)} was cancelled by the customer.",
        lambda: f"Reference {rdigits(4)}-{rdigits(4)}-{rdigits(4)} was assigned to the case.",
        lambda: f"PO {rdigits(10)} was approved by procurement.",
        lambda: f"Epoch timestamp {f.unix_time(end_datetime=END) * 1000 + rng.randrange(1000):.0f} in the log.",
        lambda: f"Logged at {f.unix_time(end_datetime=END):.0f} seconds since the epoch.",
        lambda: f"Upgrade to v{rng.randrange(1, 20)}.{rng.randrange(0, 40)}.{rng.randrange(0, 99)} or later.",
        lambda: f"The firmware build {rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 99)}.{rng.randrange(0, 999)} fixes it.",
        lambda: f"ISBN {f.isbn13()} and ISBN {f.isbn10()} are out of print.",
        lambda: f"Barcode EAN {f.ean13()} on the box, EAN-8 {f.ean8()} on the lid.",
        lambda: f"Tracking number 1Z{f.bothify('???######').upper()}{rdigits(7)} is in transit.",
        lambda: f"Tracking number {rdigits(12)} (FedEx) was delivered.",
        lambda: f"The total was {f.pricetag()} for {rng.randrange(2, 40)} items.",
        lambda: f"Meeting on {f.date(pattern='%d.%m.%Y', end_datetime=END)} at {f.time(end_datetime=END)}.",
        lambda: f"Le rendez-vous est le {f.date(pattern='%d/%m/%Y', end_datetime=END)} à {f.time(pattern='%H:%M', end_datetime=END)}.",
        lambda: f"Session {f.uuid4()} started at {f.iso8601(end_datetime=END)}.",
        lambda: f"Commit {f.sha1()} introduced the bug.",
        lambda: f"Request id {f.hexify('^^^^^^^^^^^^^^^^')} failed with 429.",
        lambda: f"Shipment reference {bad_card()} is delayed.",
        lambda: f"Internal id {bad_card()} is not a card.",
        lambda: f"Postcode {f.postcode()}, {rng.randrange(1, 300)} units in stock.",
        lambda: f"Latency p99 was {rng.randrange(100, 5000)}.{rng.randrange(10)} ms over {rng.randrange(10000, 9000000)} requests.",
        lambda: f"Ticket {rdigits(5)} was merged into {rdigits(5)}.",
        lambda: f"Use port {rng.randrange(1024, 65535)} and extension {rdigits(4)}.",
        lambda: f"The account id is {rdigits(12)} in us-east-1.",
        lambda: f"Population grew to {rng.randrange(1000000, 99999999):,} in {rng.randrange(1990, 2026)}.",
        lambda: f"Serial number {f.bothify('SN-########')}, batch {rdigits(6)}.",
    ]
    return gens


def main():
    rows = []
    for loc in LOCALES:
        f = Faker(loc)
        lang = LANG[loc]
        name = f.name

        def add(kind, templates, value, typ):
            t = rng.choice(templates)
            rows.append({"kind": kind, "locale": loc, "text": t.format(v=value, n=name()),
                         "entities": [{"type": typ, "value": value}]})

        for _ in range(14):
            add("positive", PHONE[lang] + PHONE["en"][:3], f.phone_number(), "phone")
        for _ in range(2):
            add("positive", MSISDN, f.msisdn(), "phone")
        for _ in range(4):
            add("positive", EMAIL, f.email(), "email")
        for i in range(4):
            card_type = CARD_TYPES[(LOCALES.index(loc) * 4 + i) % len(CARD_TYPES)]
            add("positive", CARD, group_card(f.credit_card_number(card_type)), "credit_card")
        for _ in range(3):
            add("positive", IBAN, group_iban(f.iban()), "iban")
        if loc == "en_US":
            for _ in range(12):
                add("positive", SSN, f.ssn(), "ssn")
        for _ in range(2):
            add("positive", IPV4, rng.choice([f.ipv4_public(), f.ipv4_private()]), "ipv4")
        add("positive", IPV6, f.ipv6(), "ipv6")
        nat = national_ids(f, loc)
        if nat:
            for _ in range(2):
                add("national_id", NATIONAL, nat(), "national_id")
        # A mixed prompt: several values and some look-alike numbers around them.
        phone, email, card = f.phone_number(), f.email(), f.credit_card_number("visa16")
        text = (f"I'm {name()}, order {f.bothify('ORD-########')} from {f.date(end_datetime=END)}: call me on "
                f"{phone} or write to {email}; refund card {card}, total {f.pricetag()}.")
        rows.append({"kind": "mixed", "locale": loc, "text": text,
                     "entities": [{"type": "phone", "value": phone},
                                  {"type": "email", "value": email},
                                  {"type": "credit_card", "value": card}]})
        gens = lookalikes(f)
        for _ in range(14):
            rows.append({"kind": "lookalike", "locale": loc, "text": rng.choice(gens)(),
                         "entities": []})
    for i, row in enumerate(rows):
        print(json.dumps({"id": f"faker-{i:04d}", **row}, ensure_ascii=False))


if __name__ == "__main__":
    main()
