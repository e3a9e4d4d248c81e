"""siren_inr.compression"""
