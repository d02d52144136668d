"""The plan: what exists in the year and what happens to it, decided from the seed.

One module per subject (`catalogue`, `events`, `inspections`, `disclosures`, `cleanup`), the
entities they decide in `model`, and what they share: department profiles, the wording of
decisions and the rhythm of days and hours.  Nothing here writes a message.
"""
