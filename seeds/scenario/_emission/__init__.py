"""The emission: the plan turned into Kafka messages.

`writer` makes each planned entity's records (`records`), some first sent wrong (`corruption`) and
then corrected; `outbox` decides when each message is ingested (delays, the June outage) and
whether it is delivered twice, and keeps every stream's messages until they are assembled.
"""
