"""The network codecs coin (COIN 2021) and siren_pe (Strümpler et al. 2022): a coordinate network's weights,
quantized and entropy-coded (codecs.py); registered here as two entries of the INR codec registry."""

from siren_inr.compression.network.codecs import COIN, SIREN_PE
from siren_inr.compression.registry import register_inr_codec

register_inr_codec(COIN)
register_inr_codec(SIREN_PE)
