"""siren_inr.cli"""
