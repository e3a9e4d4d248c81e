"""siren_inr.data"""
