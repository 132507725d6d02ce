"""The app's queue names: a module of constants only, so that the functions that bind to a
queue do not import the service that writes to it (which would cost a cold start its imports).
"""

OTP_QUEUE = "otp-email"
REFRESH_QUEUE = "weather-refresh"
JOBS_QUEUE = "jobs"
SENTIMENT_QUEUE = "bid-sentiment"
