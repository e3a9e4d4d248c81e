"""siren_inr.fit"""
