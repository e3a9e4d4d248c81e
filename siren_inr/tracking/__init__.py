"""siren_inr.tracking"""
